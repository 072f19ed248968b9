// #/apps/<id>/script: the load script in an editor with line numbers; CheckScriptSyntax errors marked on their
// line; DoReload with live progress (GetProgress polled while it runs) and the script log; DoSave.
import { h, fill, errorText, status } from '../ui.js';

const LINE_HEIGHT = 20; // px, the editor's fixed line height (hub.css)

export default async function scriptPage(view, ctx) {
  const { app, global } = await ctx.connect();
  const text = h('textarea#script-text', { spellcheck: false, wrap: 'off', autocapitalize: 'off', 'aria-label': 'Load script' });
  const gutter = h('div.gutter', { 'aria-hidden': 'true' });
  const marks = h('div.marks', { 'aria-hidden': 'true' });
  const editor = h('div.editor', gutter, h('div.code', marks, text));
  const errors = h('ul.syntax-errors');
  const line = h('p.status#script-status');
  const progress = h('div.progress', h('div.bar'));
  const transient = h('span.transient');
  const log = h('pre.log#script-log', { 'aria-live': 'polite' });
  const reloadButton = h('button.primary#reload', { onclick: reload }, 'Reload');
  const saveButton = h('button#save', { onclick: save }, 'Save');
  const checkButton = h('button#check', { onclick: () => check(true) }, 'Check syntax');
  let lines = 1;
  let checkTimer = null;
  let dirty = false;
  let closed = false;

  try {
    text.value = await app.getScript();
  } catch (err) {
    // section access: only ADMIN users may read or change the script
    fill(view, h('div.toolbar', h('h1', 'Load script')),
      h('p.error#script-denied', `The engine does not let ${ctx.user.user} read this app's script: ${errorText(err)}.`));
    return null;
  }

  function paintGutter() {
    const count = text.value.split('\n').length;
    if (count !== lines || !gutter.childElementCount) {
      lines = count;
      const frag = document.createDocumentFragment();
      for (let i = 1; i <= count; i += 1) frag.append(h('div.ln', { dataset: { line: i } }, i));
      gutter.replaceChildren(frag);
    }
  }

  function syncScroll() {
    gutter.scrollTop = text.scrollTop;
    marks.style.transform = `translate(${-text.scrollLeft}px, ${-text.scrollTop}px)`;
  }

  function lineOf(pos) {
    return text.value.slice(0, Math.max(0, pos)).split('\n').length;
  }

  function showErrors(found) {
    for (const el of gutter.querySelectorAll('.ln.error')) el.classList.remove('error');
    marks.replaceChildren();
    if (!found.length) {
      fill(errors);
      return;
    }
    const items = found.map((err) => {
      const ln = lineOf(err.qTextPos);
      gutter.querySelector(`.ln[data-line="${ln}"]`)?.classList.add('error');
      marks.append(h('div.mark', { style: { top: `${(ln - 1) * LINE_HEIGHT + 8}px` }, dataset: { line: ln } }));
      const snippet = text.value.substr(err.qTextPos, Math.max(1, err.qErrLen || 1));
      return h('li', { dataset: { line: ln },
        onclick: () => {
          text.focus();
          text.setSelectionRange(err.qTextPos, err.qTextPos + (err.qErrLen || 0));
        } },
      h('strong', `Line ${ln}, column ${err.qColInLine + 1}`),
      err.qSecondaryFailure ? ' (follows an earlier error)' : '',
      `: syntax error at “${snippet.trim() || snippet}”`);
    });
    fill(errors, items);
  }

  async function check(announce) {
    clearTimeout(checkTimer);
    try {
      await app.setScript(text.value);
      const found = await app.checkScriptSyntax();
      if (closed) return [];
      showErrors(found);
      if (announce || found.length) {
        status(line, found.length ? `${found.length} syntax error${found.length > 1 ? 's' : ''}` : 'No syntax errors.',
          found.length ? 'error' : 'ok');
      }
      return found;
    } catch (err) {
      status(line, `Syntax check failed: ${errorText(err)}`, 'error');
      return [];
    }
  }

  function onInput() {
    dirty = true;
    paintGutter();
    clearTimeout(checkTimer);
    checkTimer = setTimeout(() => check(false), 700);
  }

  async function reload() {
    reloadButton.disabled = true;
    saveButton.disabled = true;
    log.textContent = '';
    progress.classList.add('running');
    status(line, 'Reloading…');
    const found = await check(false);
    if (found.length) {
      status(line, 'Fix the syntax errors first.', 'error');
      progress.classList.remove('running');
      reloadButton.disabled = false;
      saveButton.disabled = false;
      return;
    }
    const started = performance.now();
    const call = app.doReload(0, false, false);
    let done = false;
    const errorsSeen = [];
    async function poll() {
      const data = await global.getProgress(call.requestId);
      if (data.qPersistentProgress) log.textContent += `${data.qPersistentProgress}\n`;
      transient.textContent = data.qTransientProgress || '';
      errorsSeen.push(...(data.qErrorData || []));
      log.scrollTop = log.scrollHeight;
    }
    const poller = (async () => {
      while (!done && !closed) {
        await poll().catch(() => {});
        await new Promise((resolve) => { setTimeout(resolve, 250); });
      }
    })();
    let ok = false;
    try {
      ok = await call;
    } catch (err) {
      errorsSeen.push({ qErrorString: errorText(err) });
    }
    done = true;
    await poller;
    if (closed) return;
    await poll().catch(() => {});
    transient.textContent = '';
    progress.classList.remove('running');
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (ok) {
      status(line, `Reload finished in ${seconds} s. Save to keep the data.`, 'ok');
      dirty = true;
    } else {
      const why = errorsSeen.map((e) => e.qErrorString).filter(Boolean).join('; ');
      status(line, `Reload failed${why ? `: ${why}` : ''}`, 'error');
      for (const e of errorsSeen) if (e.qLineNumber) gutter.querySelector(`.ln[data-line="${e.qLineNumber}"]`)?.classList.add('error');
    }
    reloadButton.disabled = false;
    saveButton.disabled = false;
    view.dataset.reloaded = ok ? 'ok' : 'failed';
  }

  async function save() {
    saveButton.disabled = true;
    try {
      await app.setScript(text.value);
      await app.doSave('');
      dirty = false;
      status(line, 'Saved.', 'ok');
      view.dataset.saved = 'true';
    } catch (err) {
      status(line, `Save failed: ${errorText(err)}`, 'error');
    } finally {
      saveButton.disabled = false;
    }
  }

  text.addEventListener('input', onInput);
  text.addEventListener('scroll', syncScroll);
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Tab') {
      event.preventDefault();
      text.setRangeText('    ', text.selectionStart, text.selectionEnd, 'end');
      onInput();
    } else if (event.key === 's' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      save();
    }
  });
  fill(view,
    h('div.toolbar', h('h1', 'Load script'), checkButton, reloadButton, saveButton),
    line, editor, errors,
    h('div.reload-panel', h('h2', 'Reload ', transient), progress, log));
  paintGutter();
  await check(false);
  return () => {
    closed = true;
    clearTimeout(checkTimer);
    if (dirty) app.setScript(text.value).catch(() => {});
  };
}
