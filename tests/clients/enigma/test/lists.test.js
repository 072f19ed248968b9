'use strict';
// The app-object list and the field list, as the enigma.js list examples build them.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

test('an app-object list shows every object of one type with data read from its properties', { timeout: 20000 }, async (t) => {
  const { app } = await qix.openSessionApp(t);
  await Promise.all([...Array(10).keys()].map((i) => app.createObject({
    qInfo: { qId: `my-object-${i}`, qType: 'my-object' }, meta: { title: `My object ${i}` },
  })));
  await app.createObject({ qInfo: { qId: 'other', qType: 'other-type' }, meta: { title: 'not listed' } });
  const layout = await qix.layoutOf(app, { qInfo: { qType: 'my-object-list' },
    qAppObjectListDef: { qType: 'my-object', qData: { title: '/meta/title' } } });
  const items = layout.qAppObjectList.qItems;
  assert.equal(items.length, 10);
  assert.deepEqual(items.map((i) => i.qInfo.qId).sort(), [...Array(10).keys()].map((i) => `my-object-${i}`).sort());
  for (const item of items) {
    assert.equal(item.qInfo.qType, 'my-object');
    assert.equal(item.qData.title, `My object ${item.qInfo.qId.slice('my-object-'.length)}`);
  }
});

test('a field list shows the fields of a reloaded app', { timeout: 20000 }, async (t) => {
  const { app } = await qix.openSessionApp(t);
  await qix.load(app, 'Numbers: LOAD RecNo() AS Id, Rand() AS Random AUTOGENERATE 100;');
  const layout = await qix.layoutOf(app, { qInfo: { qType: 'field-list' }, qFieldListDef: {} });
  const items = layout.qFieldList.qItems;
  assert.deepEqual(items.map((f) => f.qName).sort(), ['Id', 'Random']);
  const id = items.find((f) => f.qName === 'Id');
  assert.equal(id.qCardinal, 100);
  assert.ok(id.qTags.includes('$numeric'), `tags ${JSON.stringify(id.qTags)}`);
  assert.ok(id.qTags.includes('$integer'), `tags ${JSON.stringify(id.qTags)}`);
});
