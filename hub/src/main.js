// The hub's shell: sign-in, the hash router (#/apps, #/apps/<id>/script|model|sheet|charts), the app connection
// shared by the pages of one app, and the navigation bar.
import { h, fill, errorText } from './ui.js';
import { getJson, openApp, token } from './qix.js';
import appsPage from './pages/apps.js';
import scriptPage from './pages/script.js';
import modelPage from './pages/model.js';

const root = document.getElementById('page');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const banner = document.getElementById('banner');

const PAGES = {
  script: { title: 'Script', load: async () => scriptPage },
  model: { title: 'Data model', load: async () => modelPage },
  // the charts pull in nebula.js and the sn-* bundles: loaded only when a sheet is opened
  sheet: { title: 'Sheet', load: async () => (await import('./pages/sheet.js')).default },
  charts: { title: 'More charts', load: async () => (await import('./pages/charts.js')).default },
};

const state = { config: null, user: null, conn: null, connFor: null, cleanup: null, seq: 0 };

function parseHash() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function showBanner(text) {
  banner.hidden = !text;
  banner.textContent = text || '';
}

async function closeConnection() {
  const conn = state.conn;
  state.conn = null;
  state.connFor = null;
  if (!conn) return;
  try {
    await (await conn).session.close();
  } catch {
    // it never opened, or it is closed already
  }
}

/** The open app of the current route (one connection per app, kept while its pages are visited). */
function appConnection(appId) {
  if (state.connFor !== appId) {
    closeConnection();
    state.connFor = appId;
    state.conn = openApp(appId, {
      onClosed: () => {
        if (state.connFor === appId) {
          state.conn = null;
          state.connFor = null;
          showBanner('The connection to the engine closed. Reload the page to reconnect.');
        }
      },
    });
    state.conn.catch(() => {
      if (state.connFor === appId) {
        state.conn = null;
        state.connFor = null;
      }
    });
  }
  return state.conn;
}

function renderNav(appId, current) {
  const links = [h('a', { href: '#/apps', class: current === 'apps' ? 'active' : null }, 'Apps')];
  if (appId) {
    links.push(h('span.crumb', appId));
    for (const [key, page] of Object.entries(PAGES)) {
      links.push(h('a', { href: `#/apps/${encodeURIComponent(appId)}/${key}`, class: current === key ? 'active' : null,
        dataset: { page: key } }, page.title));
    }
  }
  fill(nav, links);
}

function renderWho() {
  if (!state.user) return fill(who);
  const signOut = state.config.jwt ? h('button.link', { onclick: signOutNow }, 'Sign out') : null;
  return fill(who, h('span.user', { title: state.user.groups.join(', ') }, state.user.user), signOut);
}

async function signOutNow() {
  token.clear();
  await closeConnection();
  state.user = null;
  location.hash = '#/apps';
  boot();
}

async function route() {
  const seq = ++state.seq;
  if (state.cleanup) {
    const cleanup = state.cleanup;
    state.cleanup = null;
    await Promise.resolve(cleanup()).catch(() => {});
  }
  if (seq !== state.seq) return;
  showBanner('');
  const { parts, query } = parseHash();
  let page;
  let appId = null;
  let key = 'apps';
  if (parts[0] === 'apps' && parts.length === 3 && PAGES[parts[2]]) {
    [, appId, key] = parts;
  } else if (!(parts[0] === 'apps' && parts.length === 1)) {
    location.replace('#/apps');
    return;
  }
  renderNav(appId, key);
  document.title = `${appId ? `${appId} · ${PAGES[key].title}` : 'Apps'} · qix hub`;
  fill(root, h('p.muted', 'Loading…'));
  try {
    if (!appId) {
      await closeConnection();
      page = appsPage;
    } else {
      page = await PAGES[key].load();
    }
    const ctx = {
      config: state.config,
      user: state.user,
      appId,
      query,
      connect: () => appConnection(appId),
      // charts keep asking for layouts until their objects are gone: a page with charts ends its connection
      // (and so its session and objects, all at once) rather than racing each destroy against those requests
      disconnect: () => closeConnection(),
      stale: () => seq !== state.seq,
    };
    const view = h(`section.page.page-${key}`);
    fill(root, view);
    const cleanup = await page(view, ctx);
    if (seq !== state.seq) {
      if (cleanup) await Promise.resolve(cleanup()).catch(() => {});
    } else {
      state.cleanup = cleanup || null;
      view.dataset.ready = 'true';
    }
  } catch (err) {
    if (seq === state.seq) fill(root, h('div.error-box', h('h2', 'Something went wrong'), h('p', errorText(err))));
  }
}

function signInForm(message) {
  fill(nav);
  fill(who);
  const input = h('textarea#token', { rows: 4, placeholder: 'eyJhbGciOi…', spellcheck: false, autocomplete: 'off' });
  const form = h('form.signin', {
    onsubmit: (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      token.set(input.value);
      boot();
    },
  },
  h('h2', 'Sign in'),
  h('p.error', { role: 'alert' }, message),
  h('p', 'This engine validates JSON Web Tokens. Paste a token (its ', h('code', 'sub'),
    ' is your user); it is kept in this browser tab only.'),
  h('label', { for: 'token' }, 'Token'), input,
  h('button.primary', { type: 'submit' }, 'Sign in'),
  h('p.muted', 'Mint one with ', h('code', 'python scripts/token.py --sub <user> --secret <secret> --exp-in 3600'), '.'));
  fill(root, form);
  input.focus();
}

async function boot() {
  try {
    state.config = await getJson('api/config');
  } catch (err) {
    fill(root, h('div.error-box', h('h2', 'The hub cannot reach the engine'), h('p', errorText(err))));
    return;
  }
  try {
    state.user = await getJson('api/whoami');
  } catch (err) {
    if (err.status === 401) {
      // the page only shows the engine's answer (its 401 and reason); a refused token is forgotten
      token.clear();
      signInForm(err.message);
      return;
    }
    fill(root, h('div.error-box', h('h2', 'Sign-in check failed'), h('p', errorText(err))));
    return;
  }
  renderWho();
  route();
}

window.addEventListener('hashchange', () => {
  if (state.user) route();
});
window.addEventListener('pagehide', () => {
  closeConnection();
});
boot();
