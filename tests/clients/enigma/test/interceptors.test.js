'use strict';
// Interceptors: retrying requests the engine aborts (error 15) while ClearAll calls race an
// evaluation over a million rows, and switching delta off for a single method.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

const ABORTED = qix.schema.enums.LocalizedErrorCode.LOCERR_GENERIC_ABORTED;

test('requests aborted with error 15 are retried until they succeed', { timeout: 60000 }, async (t) => {
  let retries = 0;
  const retryAborted = {
    onRejected(session, request, error) {
      if (error.code === ABORTED) {
        request.tries = (request.tries || 0) + 1;
        if (request.tries <= 10) {
          retries += 1;
          return request.retry();
        }
      }
      throw error;
    },
  };
  assert.equal(ABORTED, 15);
  const { app } = await qix.openSessionApp(t, { responseInterceptors: [retryAborted] });
  await qix.load(app, 'Big: LOAD RecNo() AS Value AUTOGENERATE 1000000;');
  const [count] = await Promise.all([app.evaluate('COUNT(Value)'), app.clearAll(), app.clearAll(), app.clearAll()]);
  assert.equal(count, '1000000');
  assert.ok(retries <= 30, `retried ${retries} times`);
  // and a selection racing the same evaluation still ends with a consistent answer
  const value = await app.getField('Value');
  const [, limited] = await Promise.all([value.select('<=10'), app.evaluate('COUNT(Value)')]);
  assert.ok(['10', '1000000'].includes(limited), limited);
  assert.equal(await app.evaluate('COUNT(Value)'), '10');
});

test('a request interceptor can turn delta off for one method', { timeout: 20000 }, async (t) => {
  const noDeltaForVersion = {
    onFulfilled(session, request) {
      if (request.method === 'EngineVersion') request.delta = false;
      return request;
    },
  };
  const session = qix.create(t, { requestInterceptors: [noDeltaForVersion] });
  const traffic = qix.recordTraffic(session);
  const global = await session.open();
  const id = await global.getUniqueID();
  const version = await global.engineVersion();
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(typeof version.qComponentVersion, 'string');
  const byMethod = Object.fromEntries(traffic.sent.map((m) => [m.method, m]));
  assert.equal(byMethod.EngineVersion.delta, false);
  assert.equal(byMethod.GetUniqueID.delta, qix.env.delta);
  const versionAnswer = traffic.received.find((m) => m.id === byMethod.EngineVersion.id);
  assert.ok(!versionAnswer.delta, 'a request without delta gets a plain answer');
  assert.equal(typeof versionAnswer.result.qVersion.qComponentVersion, 'string');
  const idAnswer = traffic.received.find((m) => m.id === byMethod.GetUniqueID.id);
  assert.equal(Boolean(idAnswer.delta), qix.env.delta);
});
