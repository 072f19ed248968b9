'use strict';
// Suspend / resume as enigma.js does it: a new socket to the same URL, GetActiveDoc, then the
// cached objects fetched again; and what the client does when the socket closes under it.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

test('ttl 5: resume reattaches, objects come back on new handles with the same properties', { timeout: 20000 }, async (t) => {
  const session = qix.create(t, { path: qix.freshPath({ ttl: 5 }) });
  const states = [];
  session.on('notification:OnConnected', (p) => states.push(p.qSessionState));
  const global = await session.open();
  const app = await global.createSessionApp();
  await app.createObject({ qInfo: { qId: 'OBJ01', qType: 'abc' } });
  assert.equal(await app.destroyObject('OBJ01'), true);
  const obj = await app.createObject({ qInfo: { qId: 'OBJ02', qType: 'abc' }, custom: { n: 2 } });
  const before = await obj.getProperties();
  const oldHandle = obj.handle;
  const changed = qix.once(obj, 'changed');
  await session.suspend();
  await session.resume(true); // rejects unless the engine says SESSION_ATTACHED
  await changed;
  assert.deepEqual(states, ['SESSION_CREATED', 'SESSION_ATTACHED']);
  assert.notEqual(obj.handle, oldHandle, 'GetObject after reattach hands out a new handle');
  assert.deepEqual(await obj.getProperties(), before);
  assert.equal((await app.getAppLayout()).qIsSessionApp, true);
});

test('ttl 0: resume gets a fresh session, GetActiveDoc fails, OpenDoc is replayed, unsaved changes are gone', { timeout: 20000 }, async (t) => {
  const name = `enigma-ttl0-${qix.uid()}`;
  const session = qix.create(t, { path: qix.freshPath({ ttl: 0 }) });
  const traffic = qix.recordTraffic(session);
  const global = await session.open();
  const created = await global.createApp(name);
  assert.equal(created.qSuccess, true);
  const app = await global.openDoc(created.qAppId);
  const props = await app.getAppProperties();
  props.test = true;
  await app.setAppProperties(props);
  assert.equal((await app.getAppProperties()).test, true);
  await session.suspend();
  const mark = traffic.sent.length;
  await session.resume();
  const resumed = traffic.sent.slice(mark).map((m) => m.method);
  assert.deepEqual(resumed.slice(0, 2), ['GetActiveDoc', 'OpenDoc']);
  const activeDocAnswer = traffic.received.find((m) => m.id === traffic.sent[mark].id);
  assert.equal(activeDocAnswer.error.code, 1007);
  const after = await app.getAppProperties();
  assert.equal(after.test, undefined, 'unsaved app properties do not survive the session');
  assert.equal(app.id, created.qAppId);
  await global.deleteApp(created.qAppId).catch(() => {});
});

test('a socket closed with 4029 suspends the session when suspendOnClose is set', { timeout: 20000 }, async (t) => {
  const session = qix.create(t, { suspendOnClose: true });
  const global = await session.open();
  await global.productVersion();
  const events = [];
  session.on('suspended', (evt) => events.push(['suspended', evt]));
  session.on('closed', () => events.push(['closed']));
  session.rpc.close(4029);
  await qix.once(session, 'suspended');
  await qix.sleep(100);
  assert.deepEqual(events, [['suspended', { initiator: 'network', code: 4029, reason: '' }]]);
  await assert.rejects(global.productVersion(), (err) => err.code === -11);
  await session.resume();
  assert.equal(typeof await global.productVersion(), 'string');
});

test('a socket closed with 4029 closes the session without suspendOnClose', { timeout: 20000 }, async (t) => {
  const session = qix.create(t);
  const global = await session.open();
  await global.productVersion();
  const events = [];
  session.on('suspended', () => events.push('suspended'));
  session.on('closed', () => events.push('closed'));
  const globalClosed = qix.once(global, 'closed');
  session.rpc.close(4029);
  await qix.once(session, 'closed');
  await globalClosed;
  await qix.sleep(100);
  assert.deepEqual(events, ['closed']);
});
