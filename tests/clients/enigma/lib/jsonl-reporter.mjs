// node:test reporter writing one JSON line per finished test: {file, name, status, error}.
// The Python runner (tests/test_enigma.py) reads it to tell known engine gaps from new failures.
import path from 'node:path';

export default async function* jsonlReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    if (data.details && data.details.type === 'suite') continue;
    const status = event.type === 'test:pass' ? (data.skip ? 'skip' : 'pass') : 'fail';
    const err = data.details && data.details.error;
    const cause = err && err.cause ? err.cause : err;
    yield `${JSON.stringify({
      file: data.file ? path.basename(data.file) : null,
      name: data.name,
      status,
      error: cause ? String(cause.stack || cause.message || cause).slice(0, 2000) : null,
    })}\n`;
  }
}
