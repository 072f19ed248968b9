'use strict';
// Events enigma.js users rely on: `changed` on the Doc after SetAppProperties, and the session's
// notification / traffic / suspended / resumed / closed events over a whole session lifetime.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

test('SetAppProperties fires changed on the doc', { timeout: 20000 }, async (t) => {
  const { app } = await qix.openSessionApp(t);
  const layout = await app.getAppLayout();
  assert.equal(layout.qIsSessionApp, true);
  assert.equal(typeof layout.qTitle, 'string');
  const changed = qix.once(app, 'changed');
  const props = await app.getAppProperties();
  props.example = { generated: 'apis' };
  await app.setAppProperties(props);
  await changed;
  assert.deepEqual((await app.getAppProperties()).example, { generated: 'apis' });
});

test('changed is reported once per invalidation, and not again until the layout is read', { timeout: 20000 }, async (t) => {
  const { app } = await qix.openSessionApp(t);
  const obj = await app.createSessionObject({ qInfo: { qType: 'counter' }, count: 0 });
  await obj.getLayout();
  let changes = 0;
  obj.on('changed', () => { changes += 1; });
  await obj.setProperties({ qInfo: obj.layout ? obj.layout.qInfo : { qId: obj.id, qType: 'counter' }, count: 1 });
  await obj.setProperties({ qInfo: { qId: obj.id, qType: 'counter' }, count: 2 });
  await qix.sleep(100);
  assert.equal(changes, 1, 'no second change before the layout was read again');
  assert.equal((await obj.getLayout()).count, 2);
  await obj.setProperties({ qInfo: { qId: obj.id, qType: 'counter' }, count: 3 });
  await qix.sleep(100);
  assert.equal(changes, 2);
});

test('session events over a lifetime: notification, traffic, suspend, resume, close', { timeout: 20000 }, async (t) => {
  const session = qix.create(t, { path: qix.freshPath({ ttl: 5 }) });
  const events = [];
  session.on('opened', () => events.push('opened'));
  session.on('notification:*', (method, params) => events.push(`notification:${method}:${params.qSessionState}`));
  session.on('suspended', (evt) => events.push(`suspended:${evt.initiator}`));
  session.on('resumed', () => events.push('resumed'));
  session.on('closed', () => events.push('closed'));
  let sent = 0;
  let received = 0;
  session.on('traffic:sent', () => { sent += 1; });
  session.on('traffic:received', () => { received += 1; });
  const global = await session.open();
  const app = await global.createSessionApp();
  const docTraffic = [];
  app.on('traffic:*', (dir, msg) => docTraffic.push([dir, msg.method || null]));
  await app.getAppLayout();
  await session.suspend();
  await session.resume(true);
  assert.equal((await app.getAppLayout()).qIsSessionApp, true);
  await session.close();
  assert.equal(events.filter((e) => e === 'opened').length, 1);
  // 'opened' fires when the socket opens; OnConnected may be delivered before or after it
  assert.deepEqual(events.filter((e) => e !== 'opened'), [
    'notification:OnConnected:SESSION_CREATED',
    'suspended:manual',
    'notification:OnConnected:SESSION_ATTACHED',
    'resumed',
    'closed',
  ]);
  assert.ok(sent >= 4 && received >= sent + 2, `sent ${sent}, received ${received}`);
  assert.deepEqual(docTraffic.filter(([dir]) => dir === 'sent').map(([, m]) => m), ['GetAppLayout', 'GetAppLayout']);
});
