'use strict';
// Section access through enigma.js: one app, reloaded by an ADMIN, opened by two users whose
// reductions differ (each sees only their rows) and by a user the table does not list (denied).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

const script = `
Section Access;
LOAD * INLINE [
ACCESS, USERID, COUNTRY
ADMIN, admin,
USER, us-user, US
USER, uk-user, UK
];
Section Application;
Sales:
LOAD * INLINE [
COUNTRY, PRODUCT, SALES_AMOUNT
US, Electronics, 101
US, Garden, 102
US, Toys, 103
UK, Electronics, 201
UK, Garden, 202
DE, Electronics, 301
];
`;

async function cubeFor(t, user, appId) {
  const { global } = await qix.open(t, { user });
  const app = await global.openDoc(appId);
  const obj = await app.createSessionObject({ qInfo: { qType: 'sa-cube' }, qHyperCubeDef: {
    qDimensions: [{ qDef: { qFieldDefs: ['COUNTRY'], qSortCriterias: [{ qSortByAscii: 1 }] } }],
    qMeasures: [{ qDef: { qDef: 'Sum(SALES_AMOUNT)' } }],
    qInitialDataFetch: [{ qTop: 0, qLeft: 0, qWidth: 2, qHeight: 10 }] } });
  return qix.texts((await obj.getLayout()).qHyperCube.qDataPages[0].qMatrix);
}

test('two users see different reductions of one app and a third is denied', { timeout: 30000 }, async (t) => {
  if (qix.env.level === 0) {
    t.skip('section access needs JWT identities (ValidateJsonWebTokens >= 1)');
    return;
  }
  const { global } = await qix.open(t, { user: 'admin' });
  const name = `enigma-section-access-${qix.uid()}`;
  const created = await global.createApp(name);
  const app = await global.openDoc(created.qAppId);
  await qix.load(app, script);
  await app.doSave();
  assert.deepEqual(await cubeFor(t, 'admin', created.qAppId),
    [['DE', '301'], ['UK', '403'], ['US', '306']]);
  assert.deepEqual(await cubeFor(t, 'us-user', created.qAppId), [['US', '306']]);
  assert.deepEqual(await cubeFor(t, 'uk-user', created.qAppId), [['UK', '403']]);
  const { global: denied } = await qix.open(t, { user: 'fr-user' });
  await assert.rejects(denied.openDoc(created.qAppId), (err) => {
    assert.equal(err.code, 5);
    return true;
  });
});
