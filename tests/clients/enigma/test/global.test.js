'use strict';
// Global interface: the method list enigma.js users call on handle -1, the result types they get,
// the first frame (OnConnected), and the error shapes the client turns into rejections.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('global methods resolve with the documented result types', { timeout: 20000 }, async (t) => {
  const { global } = await qix.open(t);
  assert.deepEqual(await global.abortAll(), {});
  assert.deepEqual(await global.abortRequest(0), {});
  assert.deepEqual(await global.cancelReload(), {});
  assert.deepEqual(await global.cancelRequest(0), {});
  assert.deepEqual(await global.configureReload(false, false, false), {});
  assert.equal(await global.allowCreateApp(), true);
  for (const name of ['getBNF', 'getCustomConnectors', 'getDocList', 'getSupportedCodePages']) {
    const value = name === 'getBNF' ? await global.getBNF(0) : await global[name]();
    assert.ok(Array.isArray(value), `${name} should resolve to an array, got ${JSON.stringify(value)}`);
  }
  assert.equal(typeof await global.getDefaultAppFolder(), 'string');
  assert.match(await global.getUniqueID(), UUID);
  assert.equal(typeof await global.isDesktopMode(), 'boolean');
  assert.equal(typeof await global.isPersonalMode(), 'boolean');
  for (const name of ['oSName', 'oSVersion', 'productVersion', 'qTProduct', 'qvVersion']) {
    assert.equal(typeof await global[name](), 'string', name);
  }
  const extensions = await global.reloadExtensionList();
  assert.equal(typeof extensions, 'object');
  const version = await global.engineVersion();
  assert.equal(typeof version.qComponentVersion, 'string');
  assert.match(version.qComponentVersion, /^\d+\.\d+\.\d+/);
  assert.equal(typeof await global.getAuthenticatedUser(), 'string');
  const app = await global.createSessionApp();
  assert.equal(typeof app, 'object');
  assert.equal(app.type, 'Doc');
  assert.match(app.id, /^SessionApp_/);
  assert.ok(app.handle > 0, 'a doc handle is a positive integer');
});

test('the first frame is OnConnected and AllowCreateApp has the documented wire shape', { timeout: 20000 }, async (t) => {
  const session = qix.create(t);
  const traffic = qix.recordTraffic(session);
  const connected = qix.once(session, 'notification:OnConnected');
  const global = await session.open();
  const [note] = await connected;
  assert.deepEqual(note, { qSessionState: 'SESSION_CREATED' });
  assert.equal(await global.allowCreateApp(), true);
  assert.equal(traffic.received[0].method, 'OnConnected');
  assert.equal(traffic.received[0].jsonrpc, '2.0');
  assert.equal(traffic.received[0].id, undefined, 'a notification carries no id');
  const sent = traffic.sent[0];
  assert.deepEqual({ ...sent }, {
    delta: qix.env.delta, handle: -1, method: 'AllowCreateApp', params: [], id: 1, jsonrpc: '2.0',
  });
  const answer = traffic.received.find((m) => m.id === 1);
  if (qix.env.delta) {
    assert.deepEqual(answer, {
      jsonrpc: '2.0', id: 1, delta: true, result: { qReturn: [{ op: 'add', path: '/', value: true }] },
    });
  } else {
    assert.deepEqual(answer, { jsonrpc: '2.0', id: 1, result: { qReturn: true } });
  }
});

test('notification:* sees OnConnected before any answer', { timeout: 20000 }, async (t) => {
  const session = qix.create(t);
  const seen = [];
  session.on('notification:*', (method, params) => seen.push([method, params]));
  const global = await session.open();
  await global.productVersion();
  await qix.sleep(50);
  assert.deepEqual(seen[0], ['OnConnected', { qSessionState: 'SESSION_CREATED' }]);
});

test('errors reach the caller with code, parameter and message', { timeout: 20000 }, async (t) => {
  const { global } = await qix.open(t);
  await assert.rejects(global.getActiveDoc(), (err) => {
    assert.equal(err.code, 1007);
    assert.equal(typeof err.message, 'string');
    return true;
  });
  await assert.rejects(global.openDoc(`no-such-app-${qix.uid()}`), (err) => err.code === 1003);
  const app = await global.createSessionApp();
  // A missing object is answered with the null qReturn, which enigma.js turns into its own -2.
  await assert.rejects(app.getObject('no-such-object'), (err) => err.code === -2);
  await assert.rejects(app.getDimension('no-such-dimension'), (err) => err.code === -2);
  // A known doc method called on the Global handle does not exist there.
  await assert.rejects(global.session.send({ handle: -1, method: 'GetScript', params: [] }),
    (err) => err.code === -32601);
  // An unknown handle is an invalid parameter.
  await assert.rejects(global.session.send({ handle: 4242, method: 'GetLayout', params: [] }),
    (err) => err.code === -32602);
});

test('pipelined requests are all answered, matched by id', { timeout: 20000 }, async (t) => {
  const { global } = await qix.open(t);
  const app = await global.createSessionApp();
  const objects = await Promise.all([...Array(10).keys()].map((i) => app.createSessionObject({
    qInfo: { qId: `pipelined-${i}`, qType: 'pipelined' }, n: i,
  })));
  assert.deepEqual(objects.map((o) => o.id), [...Array(10).keys()].map((i) => `pipelined-${i}`));
  assert.equal(new Set(objects.map((o) => o.handle)).size, 10, 'every object gets its own handle');
  const layouts = await Promise.all(objects.map((o) => o.getLayout()));
  assert.deepEqual(layouts.map((l) => l.n), [...Array(10).keys()]);
});
