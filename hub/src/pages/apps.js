// #/apps: the app list (GetDocList), create (CreateApp), delete (DeleteApp), and import/export through the
// REST API when the engine has those routes (api/config says which; the buttons are hidden otherwise).
import { h, fill, errorText, status, formatBytes, formatTime } from '../ui.js';
import { authHeaders, openSession } from '../qix.js';

export default async function appsPage(view, ctx) {
  const { global, session } = await openSession('/app/engineData');
  const rest = ctx.config.rest || {};
  const line = h('p.status');
  const list = h('div.apps');
  const nameInput = h('input#new-app', { type: 'text', placeholder: 'New app name', required: true, maxlength: 200 });

  async function refresh() {
    const docs = await global.getDocList();
    docs.sort((a, b) => a.qDocName.localeCompare(b.qDocName));
    if (!docs.length) {
      fill(list, h('p.muted.empty', 'No apps yet: create one above.'));
      return;
    }
    fill(list, h('table.grid.apps-table',
      h('thead', h('tr', h('th', 'Name'), h('th', 'Id'), h('th', 'Last reload'), h('th.num', 'Size'), h('th', ''))),
      h('tbody', docs.map((doc) => row(doc)))));
  }

  function row(doc) {
    const id = doc.qDocId;
    const base = `#/apps/${encodeURIComponent(id)}`;
    const del = h('button.danger', { onclick: () => confirmDelete(id, del) }, 'Delete');
    const exportButton = rest.export ? h('button', { onclick: () => exportApp(id, doc.qDocName) }, 'Export') : null;
    return h('tr', { dataset: { app: id } },
      h('td', h('a.app-name', { href: `${base}/sheet` }, doc.qDocName || id)),
      h('td.mono', id),
      h('td', formatTime(doc.qLastReloadTime)),
      h('td.num', formatBytes(doc.qFileSize)),
      h('td', h('div.actions',
        h('a.button', { href: `${base}/script` }, 'Script'),
        h('a.button', { href: `${base}/model` }, 'Data model'),
        h('a.button', { href: `${base}/sheet` }, 'Sheet'),
        exportButton, del)));
  }

  function confirmDelete(id, button) {
    if (button.dataset.armed !== 'true') {
      button.dataset.armed = 'true';
      button.textContent = 'Delete?';
      setTimeout(() => {
        button.dataset.armed = 'false';
        button.textContent = 'Delete';
      }, 4000);
      return;
    }
    global.deleteApp(id)
      .then(() => status(line, `Deleted ${id}.`, 'ok'))
      .catch((err) => status(line, `Delete failed: ${errorText(err)}`, 'error'))
      .then(refresh);
  }

  async function create(event) {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) return;
    try {
      const result = await global.createApp(name, '');
      if (!result.qSuccess) throw new Error(`CreateApp did not succeed for ${name}`);
      nameInput.value = '';
      status(line, `Created ${result.qAppId}.`, 'ok');
      location.hash = `#/apps/${encodeURIComponent(result.qAppId)}/script`;
    } catch (err) {
      status(line, `Create failed: ${errorText(err)}`, 'error');
    }
  }

  async function importApp(file) {
    status(line, `Importing ${file.name}…`);
    try {
      const name = file.name.replace(/\.qvf$/i, '');
      const res = await fetch(`/v1/apps/import?name=${encodeURIComponent(name)}`, {
        method: 'POST', headers: { ...authHeaders(), 'Content-Type': 'application/octet-stream' }, body: file,
      });
      if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim()}`);
      const body = await res.json().catch(() => ({}));
      status(line, `Imported ${body.attributes?.id || name}.`, 'ok');
      await refresh();
    } catch (err) {
      status(line, `Import failed: ${errorText(err)}`, 'error');
    }
  }

  async function exportApp(id, name) {
    status(line, `Exporting ${id}…`);
    try {
      const res = await fetch(`/v1/apps/${encodeURIComponent(id)}/export`, { method: rest.export, headers: authHeaders() });
      if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim()}`);
      const blob = await res.blob();
      const link = h('a', { href: URL.createObjectURL(blob), download: `${name || id}.qvf` });
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      status(line, `Exported ${id}.`, 'ok');
    } catch (err) {
      status(line, `Export failed: ${errorText(err)}`, 'error');
    }
  }

  const fileInput = h('input', { type: 'file', accept: '.qvf', hidden: true,
    onchange: () => fileInput.files[0] && importApp(fileInput.files[0]) });
  fill(view,
    h('div.toolbar',
      h('h1', 'Apps'),
      h('form.create', { onsubmit: create }, nameInput, h('button.primary', { type: 'submit' }, 'Create app')),
      rest.import ? [fileInput, h('button#import', { onclick: () => fileInput.click() }, 'Import .qvf')] : null),
    line, list);
  await refresh();
  return () => session.close();
}
