'use strict';
// Straight, pivot and stacked hypercubes over six sales rows, with selections made through the cube.
const { describe, test, before, beforeEach, after } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');
const { sales } = require('../lib/scripts');

const ascii = [{ qSortByAscii: 1 }];
const dim = (field) => ({ qDef: { qFieldDefs: [field], qSortCriterias: ascii } });
const sumValue = { qDef: { qDef: '=Sum(Value)', qLabel: 'Total' } };

/** Every node of a pivot/stack tree, depth first. */
function walk(nodes, out = []) {
  for (const node of nodes || []) {
    out.push(node);
    walk(node.qSubNodes, out);
  }
  return out;
}

const finite = (n) => typeof n === 'number' && Number.isFinite(n);

describe('hypercubes', { timeout: 30000 }, () => {
  let session;
  let app;
  before(async () => {
    ({ session, app } = await qix.openSessionApp(null));
    await qix.load(app, sales);
  });
  beforeEach(() => app.clearAll()); // each scenario starts from no selections, even after a failure
  after(() => session && session.close());

  test('straight: layout, then selecting cells through the cube', async () => {
    const obj = await app.createSessionObject({ qInfo: { qType: 'straight' }, qHyperCubeDef: {
      qDimensions: [dim('Region')], qMeasures: [sumValue],
      qInitialDataFetch: [{ qTop: 0, qLeft: 0, qWidth: 2, qHeight: 5 }] } });
    const cube = (await obj.getLayout()).qHyperCube;
    assert.deepEqual(cube.qSize, { qcx: 2, qcy: 4 });
    assert.equal(cube.qDimensionInfo[0].qFallbackTitle, 'Region');
    assert.equal(cube.qMeasureInfo[0].qFallbackTitle, 'Total');
    const page = cube.qDataPages[0];
    assert.deepEqual(page.qArea, { qLeft: 0, qTop: 0, qWidth: 2, qHeight: 4 });
    assert.deepEqual(qix.texts(page.qMatrix), [['East', '50'], ['North', '30'], ['South', '70'], ['West', '60']]);
    assert.deepEqual(page.qMatrix.map((r) => r[1].qNum), [50, 30, 70, 60]);
    assert.ok(page.qMatrix.every((r) => r[0].qState === 'O'));
    const changed = qix.once(obj, 'changed');
    assert.equal(await obj.selectHyperCubeCells('/qHyperCubeDef', [0, 2], [0], false), true);
    await changed;
    const after2 = (await obj.getLayout()).qHyperCube;
    assert.equal(after2.qSize.qcy, 2);
    assert.deepEqual(qix.texts(after2.qDataPages[0].qMatrix), [['East', '50'], ['South', '70']]);
    assert.deepEqual(after2.qDataPages[0].qMatrix.map((r) => r[0].qState), ['S', 'S']);
    const data = await obj.getHyperCubeData('/qHyperCubeDef', [{ qTop: 1, qLeft: 0, qWidth: 2, qHeight: 1 }]);
    assert.deepEqual(qix.texts(data[0].qMatrix), [['South', '70']]);
    await app.clearAll();
  });

  test('pivot: left and top trees, data cells, and a pivot cell selection', async () => {
    const obj = await app.createSessionObject({ qInfo: { qType: 'pivot' }, qHyperCubeDef: {
      qDimensions: [dim('Region'), dim('Product')], qMeasures: [sumValue],
      qMode: 'EQ_DATA_MODE_PIVOT', qNoOfLeftDims: 1, qAlwaysFullyExpanded: true } });
    const layout = await obj.getLayout();
    assert.equal(layout.qHyperCube.qMode, 'P');
    const pages = await obj.getHyperCubePivotData('/qHyperCubeDef',
      [{ qLeft: 0, qTop: 0, qWidth: 10, qHeight: 10 }]);
    const page = pages[0];
    assert.deepEqual(page.qLeft.map((n) => n.qText), ['East', 'North', 'South', 'West']);
    assert.deepEqual(page.qTop.map((n) => n.qText), ['Apples', 'Pears', 'Plums']);
    assert.equal(page.qData.length, 4);
    assert.deepEqual(page.qData.map((row) => row.length), [3, 3, 3, 3]);
    const rowSums = page.qData.map((row) => row.reduce((s, c) => s + (finite(c.qNum) ? c.qNum : 0), 0));
    assert.deepEqual(rowSums, [50, 30, 70, 60]);
    assert.equal(page.qData[1][0].qNum, 10); // North, Apples
    assert.equal(page.qData[1][1].qNum, 20); // North, Pears
    assert.equal(await obj.selectPivotCells('/qHyperCubeDef', [{ qType: 'L', qCol: 0, qRow: 1 }], false, false), true);
    const again = (await obj.getHyperCubePivotData('/qHyperCubeDef',
      [{ qLeft: 0, qTop: 0, qWidth: 10, qHeight: 10 }]))[0];
    assert.deepEqual(again.qLeft.map((n) => n.qText), ['North']);
    assert.deepEqual(again.qTop.map((n) => n.qText), ['Apples', 'Pears']);
    const info = (await obj.getLayout()).qHyperCube.qDimensionInfo[0];
    assert.equal(info.qStateCounts.qSelected, 1);
    await app.clearAll();
  });

  test('stacked: one tree with every region and product and the measure values', async () => {
    const obj = await app.createSessionObject({ qInfo: { qType: 'stacked' }, qHyperCubeDef: {
      qDimensions: [dim('Region'), dim('Product')], qMeasures: [sumValue],
      qMode: 'EQ_DATA_MODE_PIVOT_STACK', qAlwaysFullyExpanded: true } });
    const layout = await obj.getLayout();
    assert.equal(layout.qHyperCube.qMode, 'K');
    const pages = await obj.getHyperCubeStackData('/qHyperCubeDef',
      [{ qLeft: 0, qTop: 0, qWidth: 10, qHeight: 10 }], 10000);
    const nodes = walk(pages[0].qData);
    const texts = new Set(nodes.map((n) => n.qText));
    for (const v of ['East', 'North', 'South', 'West', 'Apples', 'Pears', 'Plums']) assert.ok(texts.has(v), v);
    const values = nodes.filter((n) => n.qType === 'V').map((n) => n.qValue);
    assert.equal(values.reduce((a, b) => a + b, 0), 210);
    assert.ok(pages[0].qArea);
  });
});
