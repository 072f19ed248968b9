'use strict';
// The Qlik Cloud URL form: /app/SessionApp_<hex>[/ttl/N] creates a session app on connect and
// getActiveDoc() returns it. The runner also runs this file against a TLS listener (wss://).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

test('/app/SessionApp_<hex> opens a session app that getActiveDoc returns', { timeout: 20000 }, async (t) => {
  const appId = `SessionApp_${qix.uid(8)}`;
  const { global } = await qix.open(t, { path: `/app/${appId}` });
  const app = await global.getActiveDoc();
  assert.equal(app.id, appId);
  assert.equal(app.type, 'Doc');
  assert.equal((await app.getAppLayout()).qIsSessionApp, true);
  await qix.load(app, 'T: LOAD RecNo() AS N AUTOGENERATE 5;');
  assert.deepEqual(await app.getTablesAndKeys({ qcx: 0, qcy: 0 }, { qcx: 0, qcy: 0 }, 0, false, false)
    .then((r) => r.qtr.map((tr) => [tr.qName, tr.qNoOfRows])), [['T', 5]]);
  const again = await global.getActiveDoc();
  assert.equal(again.handle, app.handle, 'the doc handle is stable within a session');
});

test('/app/SessionApp_<hex>/ttl/5 keeps the session app across suspend and resume', { timeout: 20000 }, async (t) => {
  const appId = `SessionApp_${qix.uid(8)}`;
  const session = qix.create(t, { path: `/app/${appId}/ttl/5` });
  const global = await session.open();
  const app = await global.getActiveDoc();
  const props = await app.getAppProperties();
  props.test = true;
  await app.setAppProperties(props);
  await session.suspend();
  await session.resume(true);
  assert.equal((await app.getAppProperties()).test, true);
  assert.equal(app.id, appId);
});

test('a different user cannot reach another user\'s session app by its URL', { timeout: 20000 }, async (t) => {
  if (qix.env.level === 0) {
    t.skip('without JWT every connection is the same user');
    return;
  }
  const appId = `SessionApp_${qix.uid(8)}`;
  const first = await qix.open(t, { path: `/app/${appId}/ttl/5`, user: 'alice' });
  const doc = await first.global.getActiveDoc();
  await doc.setAppProperties({ ...(await doc.getAppProperties()), owner: 'alice' });
  const second = await qix.open(t, { path: `/app/${appId}/ttl/5`, user: 'mallory' });
  const other = await second.global.getActiveDoc();
  assert.equal((await other.getAppProperties()).owner, undefined);
});
