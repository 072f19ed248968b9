// The only way the hub reaches the engine: enigma.js sessions over the public QIX WebSocket API, and the
// engine's own HTTP routes for sign-in (api/whoami) and REST (/v1/apps/...).
import enigma from 'enigma.js';
import schema from 'enigma.js/schemas/12.170.2.json';

const TOKEN_KEY = 'qix-hub-token';

/** The JWT the user signed in with (this tab only: sessionStorage). */
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value.trim()),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export function authHeaders() {
  const t = token.get();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** GET one of the hub's own JSON routes; rejects with {status, text} on an HTTP error. */
export async function getJson(path) {
  const res = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  if (!res.ok) {
    const text = (await res.text()).trim();
    const reason = text.startsWith(res.statusText) ? text : `${res.statusText}: ${text}`;
    throw { status: res.status, message: `${res.status} ${reason}` };
  }
  return res.json();
}

function socketUrl(path) {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
}

/**
 * Open a QIX session on ``path`` (/app/engineData or /app/<id>). Browsers cannot set headers on a WebSocket
 * upgrade, so the token travels as the subprotocol offer ["qix-hub", "qix-jwt.<token>"]: the engine checks it
 * with the same JWT rules as an Authorization header and answers "qix-hub".
 */
export async function openSession(path, { onClosed } = {}) {
  const jwt = token.get();
  const session = enigma.create({
    schema,
    url: socketUrl(path),
    createSocket: (url) => (jwt ? new WebSocket(url, ['qix-hub', `qix-jwt.${jwt}`]) : new WebSocket(url)),
  });
  let opened = false;
  session.on('closed', (event) => {
    if (opened && onClosed) onClosed(event);
  });
  try {
    const global = await session.open();
    opened = true;
    return { session, global };
  } catch (err) {
    throw new Error('The engine refused the connection (sign in again, or check that the engine runs).');
  }
}

/** A session on one app, with its Doc. */
export async function openApp(appId, options) {
  const { session, global } = await openSession(`/app/${encodeURIComponent(appId)}`, options);
  try {
    const app = await global.openDoc(appId);
    return { session, global, app };
  } catch (err) {
    await session.close().catch(() => {});
    throw err;
  }
}
