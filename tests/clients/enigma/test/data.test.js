'use strict';
// List objects with state counts, string/value expressions in properties, and getTableData with
// positional and named parameters.
const { describe, test, before, beforeEach, after } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');
const { sales } = require('../lib/scripts');

describe('data', { timeout: 30000 }, () => {
  let session;
  let app;
  before(async () => {
    ({ session, app } = await qix.openSessionApp(null));
    await qix.load(app, sales);
  });
  beforeEach(() => app.clearAll());
  after(() => session && session.close());

  test('list object: values in load order, state counts, and a selection', async () => {
    const obj = await app.createSessionObject({ qInfo: { qType: 'list' }, qListObjectDef: {
      qDef: { qFieldDefs: ['Region'], qSortCriterias: [{ qSortByLoadOrder: 1 }] },
      qShowAlternatives: true,
      qInitialDataFetch: [{ qTop: 0, qLeft: 0, qHeight: 3, qWidth: 1 }] } });
    const list = (await obj.getLayout()).qListObject;
    assert.deepEqual(list.qSize, { qcx: 1, qcy: 4 });
    assert.equal(list.qDimensionInfo.qStateCounts.qOption, 4);
    assert.equal(list.qDimensionInfo.qStateCounts.qSelected, 0);
    assert.deepEqual(qix.texts(list.qDataPages[0].qMatrix), [['North'], ['South'], ['East']]);
    assert.ok(list.qDataPages[0].qMatrix.every((r) => r[0].qState === 'O'));
    const changed = qix.once(obj, 'changed');
    assert.equal(await obj.selectListObjectValues('/qListObjectDef', [0], false), true);
    await changed;
    const selected = (await obj.getLayout()).qListObject;
    assert.equal(selected.qDimensionInfo.qStateCounts.qSelected, 1);
    assert.equal(selected.qDimensionInfo.qStateCounts.qAlternative, 3);
    assert.deepEqual(selected.qDataPages[0].qMatrix.map((r) => r[0].qState), ['S', 'A', 'A']);
    const product = await app.createSessionObject({ qInfo: { qType: 'list' }, qListObjectDef: {
      qDef: { qFieldDefs: ['Product'], qSortCriterias: [{ qSortByAscii: 1 }] },
      qInitialDataFetch: [{ qTop: 0, qLeft: 0, qHeight: 10, qWidth: 1 }] } });
    const products = (await product.getLayout()).qListObject;
    assert.deepEqual(products.qDataPages[0].qMatrix.map((r) => [r[0].qText, r[0].qState]),
      [['Apples', 'O'], ['Pears', 'O'], ['Plums', 'X']]);
    assert.equal(products.qDimensionInfo.qStateCounts.qExcluded, 1);
    await app.clearAll();
  });

  test('string and value expressions in properties are evaluated in the layout', async () => {
    const layout = await qix.layoutOf(app, { qInfo: { qType: 'expressions' },
      expr: { qStringExpression: { qExpr: "='rows = ' & Count(Value)" } },
      total: { qValueExpression: { qExpr: '=Sum(Value)' } },
      plain: 'kept as is' });
    assert.equal(layout.expr, 'rows = 6');
    assert.equal(layout.total, 210);
    assert.equal(layout.plain, 'kept as is');
    assert.equal(await app.evaluate('Sum(Value)'), '210');
    assert.deepEqual(await app.evaluateEx('Count(distinct Region)'), { qText: '4', qIsNumeric: true, qNumber: 4 });
  });

  test('getTableData answers positional and named parameters the same way', async () => {
    await qix.load(app, 'exampletable: LOAD * INLINE [\ndim, val\na, 1\nb, 2\nc, 3\nd, 4\ne, 5\n];');
    const positional = await app.getTableData(0, 4, false, 'exampletable');
    const named = await app.getTableData({ qOffset: 0, qRows: 4, qSyntheticMode: false, qTableName: 'exampletable' });
    assert.deepEqual(named, positional);
    assert.deepEqual(positional.map((r) => r.qValue.map((v) => v.qText)), [['a', '1'], ['b', '2'], ['c', '3'], ['d', '4']]);
    assert.equal(positional[0].qValue[1].qIsNumeric, true);
    assert.equal(positional[0].qValue[1].qNumber, 1);
    const header = await app.getTableData(-1, 2, false, 'exampletable');
    assert.deepEqual(header[0].qValue.map((v) => v.qText), ['dim', 'val']);
    await qix.load(app, sales);
  });
});
