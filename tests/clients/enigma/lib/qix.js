'use strict';
/**
 * Shared helper for the enigma.js conformance scenarios.
 *
 * Everything about the engine under test comes from the environment, so the same files run against
 * every engine the Python runner starts (JWT level 2, level 0, TLS):
 *   QIX_URL_BASE   ws://127.0.0.1:<port> or wss://127.0.0.1:<port>
 *   QIX_JWT_SECRET HS256 secret the engine verifies tokens with (level 2); tokens are always sent
 *   QIX_LEVEL      the engine's ValidateJsonWebTokens level (0 or 2)
 *   QIX_DELTA      "true" / "false": enigma.js protocol.delta for every session
 *   QIX_TLS_CA     PEM file to trust for wss:// (the self-signed certificate the runner made)
 *   QIX_DATA_DIR   folder holding movies.csv (tests/data)
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');
const enigma = require('enigma.js');
const schema = require('enigma.js/schemas/12.2027.0.json');

const env = {
  base: (process.env.QIX_URL_BASE || 'ws://127.0.0.1:9076').replace(/\/+$/, ''),
  secret: process.env.QIX_JWT_SECRET || 'level-zero-ignores-this-secret',
  level: Number(process.env.QIX_LEVEL || '0'),
  delta: (process.env.QIX_DELTA || 'true') !== 'false',
  ca: process.env.QIX_TLS_CA ? fs.readFileSync(process.env.QIX_TLS_CA) : undefined,
  dataDir: process.env.QIX_DATA_DIR || path.resolve(__dirname, '..', '..', '..', 'data'),
};

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** An HS256 JWT for `sub` (plus any extra claims, e.g. groups), valid for an hour. */
function token(sub, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, iat: now, exp: now + 3600, ...claims }));
  const sig = crypto.createHmac('sha256', env.secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(sig)}`;
}

/** A short random hex id: fresh identities, app names and session-app ids. */
const uid = (bytes = 6) => crypto.randomBytes(bytes).toString('hex');

/** The default URL path: a fresh session (own identity), optionally with a TTL. */
function freshPath({ ttl } = {}) {
  return `/app/engineData${ttl === undefined ? '' : `/ttl/${ttl}`}/identity/${uid()}`;
}

/**
 * Create (not open) an enigma.js session. Options: path, user, groups, suspendOnClose, mixins,
 * requestInterceptors, responseInterceptors, protocol (merged over {delta: env.delta}).
 * `t` (a node:test context) closes the session when the test ends.
 */
function create(t, opts = {}) {
  const url = `${env.base}${opts.path || freshPath()}`;
  const bearer = token(opts.user || 'conformance', opts.groups ? { groups: opts.groups } : {});
  const session = enigma.create({
    schema,
    url,
    createSocket: (u) => new WebSocket(u, {
      headers: { Authorization: `Bearer ${bearer}` },
      ...(env.ca ? { ca: env.ca } : {}),
    }),
    protocol: { delta: env.delta, ...(opts.protocol || {}) },
    suspendOnClose: Boolean(opts.suspendOnClose),
    mixins: opts.mixins || [],
    requestInterceptors: opts.requestInterceptors || [],
    responseInterceptors: opts.responseInterceptors || [],
  });
  if (t) t.after(() => session.close().catch(() => {}));
  return session;
}

/** Create and open a session; resolves to { session, global }. */
async function open(t, opts = {}) {
  const session = create(t, opts);
  const global = await session.open();
  return { session, global };
}

/** Open a session with a fresh session app; resolves to { session, global, app }. */
async function openSessionApp(t, opts = {}) {
  const { session, global } = await open(t, opts);
  const app = await global.createSessionApp();
  return { session, global, app };
}

/** Set a script and reload it; fails the test with the reload log when the reload fails. */
async function load(app, script) {
  await app.setScript(script);
  const ok = await app.doReload(0, false, false);
  if (ok !== true) throw new Error(`reload failed (DoReload returned ${JSON.stringify(ok)})`);
}

/** Resolve with the first `event` emitted by `emitter` (arguments as an array), or reject after `ms`. */
function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' event within ${ms} ms`)), ms);
    emitter.once(event, (...args) => { clearTimeout(timer); resolve(args); });
  });
}

/** Wait `ms` milliseconds. */
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

/** Record every frame of a session (before it opens): { sent: [...], received: [...] }. */
function recordTraffic(session) {
  const log = { sent: [], received: [] };
  // copies: enigma.js patches delta answers in place after emitting them
  session.on('traffic:sent', (m) => log.sent.push(structuredClone(m)));
  session.on('traffic:received', (m) => log.received.push(structuredClone(m)));
  return log;
}

/** Create a session object, read its layout and destroy it: what list "sugar" helpers do. */
async function layoutOf(app, props) {
  const obj = await app.createSessionObject(props);
  const layout = await obj.getLayout();
  await app.destroySessionObject(obj.id);
  return layout;
}

/** The cells' qText of a hypercube/list matrix. */
const texts = (matrix) => matrix.map((row) => row.map((c) => c.qText));

module.exports = {
  env, schema, token, uid, freshPath, create, open, openSessionApp, load, once, sleep, recordTraffic,
  layoutOf, texts,
};
