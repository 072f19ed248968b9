'use strict';
// A ctrl00-style app driven through a "sugar" Doc mixin (getList: a session object's layout),
// the way enigma.js users list sheets, selections, master items, fields and variables.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');
const { ctrl00, ctrl00Fields } = require('../lib/scripts');

const sugar = {
  types: ['Doc'],
  init({ api }) { api.listCount = 0; },
  extend: {
    /** The layout of a list definition (created as a session object, reused by id afterwards). */
    async getList(listDef) {
      this.listCount += 1;
      let obj;
      try {
        obj = await this.getObject(listDef.qInfo.qId);
      } catch (err) {
        if (err.code !== -2) throw err;
        obj = await this.createSessionObject(listDef);
      }
      return obj.getLayout();
    },
  },
};

describe('sugar mixins on a ctrl00 app', { timeout: 30000 }, () => {
  let app;
  let session;
  before(async () => {
    ({ session, app } = await qix.openSessionApp(null, { mixins: [sugar] }));
  });
  after(() => session && session.close());

  test('a sheet list starts empty and lists the sheet once created', async () => {
    const def = { qInfo: { qId: 'SheetList', qType: 'SheetList' },
      qAppObjectListDef: { qType: 'sheet', qData: { title: '/qMetaDef/title' } } };
    const empty = await app.getList(def);
    assert.deepEqual(empty.qAppObjectList.qItems, []);
    const listObj = await app.getObject('SheetList');
    await listObj.getLayout(); // a handle is only reported changed once its layout has been read
    const changed = qix.once(listObj, 'changed');
    const sheet = await app.createObject({ qInfo: { qType: 'sheet' }, qMetaDef: { title: 'First sheet' } });
    await changed;
    const one = await app.getList(def);
    assert.equal(one.qAppObjectList.qItems.length, 1);
    assert.equal(one.qAppObjectList.qItems[0].qInfo.qId, sheet.id);
    assert.equal(one.qAppObjectList.qItems[0].qData.title, 'First sheet');
    assert.equal(app.listCount, 2);
    assert.equal((await listObj.getLayout()).qAppObjectList.qItems.length, 1);
  });

  test('the ctrl00 script reloads and selecting all of Alpha shows 26 selected', async () => {
    await qix.load(app, ctrl00);
    const alpha = await app.getField('Alpha');
    assert.equal(await alpha.getCardinal(), 26);
    assert.equal(await alpha.selectAll(), true);
    const layout = await app.getList({ qInfo: { qId: 'CurrentSelections', qType: 'CurrentSelections' },
      qSelectionObjectDef: {} });
    const sel = layout.qSelectionObject.qSelections;
    assert.equal(sel.length, 1);
    assert.equal(sel[0].qField, 'Alpha');
    assert.equal(sel[0].qSelectedCount, 26);
    assert.equal(sel[0].qTotal, 26);
    await app.clearAll();
  });

  test('a master measure appears in the measure list', async () => {
    const measure = await app.createMeasure({ qInfo: { qType: 'measure' },
      qMeasure: { qLabel: 'Total 1', qDef: 'Sum(Expression1)' }, qMetaDef: { title: 'Total 1' } });
    const layout = await app.getList({ qInfo: { qId: 'MeasureList', qType: 'MeasureList' },
      qMeasureListDef: { qType: 'measure', qData: { title: '/qMetaDef/title' } } });
    assert.equal(layout.qMeasureList.qItems.length, 1);
    assert.equal(layout.qMeasureList.qItems[0].qInfo.qId, measure.id);
    assert.equal(layout.qMeasureList.qItems[0].qData.title, 'Total 1');
  });

  test('the field list holds the twelve data fields with every show flag on', async () => {
    const layout = await app.getList({ qInfo: { qId: 'FieldList', qType: 'FieldList' },
      qFieldListDef: { qShowSystem: true, qShowHidden: true, qShowSemantic: true, qShowSrcTables: true,
        qShowDefinitionOnly: true, qShowDerivedFields: true, qShowImplicit: true } });
    const visible = layout.qFieldList.qItems.filter((f) => f.qIsHidden !== true);
    assert.deepEqual(visible.map((f) => f.qName).sort(), [...ctrl00Fields].sort());
    const alpha = visible.find((f) => f.qName === 'Alpha');
    assert.equal(alpha.qCardinal, 26);
    assert.deepEqual(alpha.qSrcTables, ['Letters']);
    const num = visible.find((f) => f.qName === 'Num');
    assert.deepEqual([...num.qSrcTables].sort(), ['Codes', 'Letters', 'Transactions']);
  });

  test('a master dimension appears in the dimension list', async () => {
    const dim = await app.createDimension({ qInfo: { qType: 'dimension' },
      qDim: { qGrouping: 'N', qFieldDefs: ['Dim1'], qFieldLabels: ['Dim1'] }, qMetaDef: { title: 'Dim one' } });
    const layout = await app.getList({ qInfo: { qId: 'DimensionList', qType: 'DimensionList' },
      qDimensionListDef: { qType: 'dimension', qData: { title: '/qMetaDef/title' } } });
    assert.equal(layout.qDimensionList.qItems.length, 1);
    assert.equal(layout.qDimensionList.qItems[0].qInfo.qId, dim.id);
  });

  test('a variable is the first non-reserved item of the variable list', async () => {
    const variable = await app.createVariableEx({ qInfo: { qType: 'variable' }, qName: 'vConformance',
      qDefinition: '=Count(Alpha)' });
    const layout = await app.getList({ qInfo: { qId: 'VariableList', qType: 'VariableList' },
      qVariableListDef: { qType: 'variable', qShowReserved: true, qShowConfig: true,
        qData: { tags: '/tags' } } });
    const own = layout.qVariableList.qItems.filter((v) => !v.qIsReserved && !v.qIsConfig);
    assert.ok(own.length >= 1);
    assert.equal(own[0].qInfo.qId, variable.id);
    assert.equal(own[0].qName, 'vConformance');
    assert.equal(own[0].qDefinition, '=Count(Alpha)');
  });
});
