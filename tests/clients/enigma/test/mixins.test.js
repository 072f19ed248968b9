'use strict';
// Mixins: a Doc mixin that initialises, extends and overrides a generated method, and a mixin for
// a custom object type that caches its layout until the engine says the object changed.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

test('a Doc mixin can init, extend and override generated methods', { timeout: 20000 }, async (t) => {
  const docMixin = {
    types: ['Doc'],
    init({ api }) { api.createdIds = []; },
    extend: {
      async countObjectsOfType(type) {
        const list = await this.getObjects({ qTypes: [type], qIncludeSessionObjects: true, qData: {} });
        return list.length;
      },
    },
    override: {
      async createObject(base, props) {
        const obj = await base({ ...props, qInfo: { ...props.qInfo, qId: `mixed-${props.qInfo.qId}` } });
        this.createdIds.push(obj.id);
        return obj;
      },
    },
  };
  const { app } = await qix.openSessionApp(t, { mixins: [docMixin] });
  const a = await app.createObject({ qInfo: { qId: 'a', qType: 'mixed' } });
  const b = await app.createObject({ qInfo: { qId: 'b', qType: 'mixed' } });
  assert.deepEqual([a.id, b.id], ['mixed-a', 'mixed-b']);
  assert.deepEqual(app.createdIds, ['mixed-a', 'mixed-b']);
  assert.equal(await app.countObjectsOfType('mixed'), 2);
  assert.equal((await a.getProperties()).qInfo.qId, 'mixed-a');
});

test('a custom-type mixin caches layouts until the object changes', { timeout: 20000 }, async (t) => {
  const caching = {
    types: ['custom-type'],
    init({ api }) {
      api.cached = null;
      api.on('changed', () => { api.cached = null; });
    },
    extend: {
      async getCachedLayout() {
        if (!this.cached) this.cached = this.getLayout();
        return this.cached;
      },
    },
  };
  const session = qix.create(t, { mixins: [caching] });
  const traffic = qix.recordTraffic(session);
  const global = await session.open();
  const app = await global.createSessionApp();
  const obj = await app.createObject({ qInfo: { qType: 'custom-type' }, value: 1 });
  assert.equal(obj.genericType, 'custom-type');
  assert.equal((await obj.getCachedLayout()).value, 1);
  assert.equal((await obj.getCachedLayout()).value, 1);
  const changed = qix.once(obj, 'changed');
  await obj.setProperties({ qInfo: { qId: obj.id, qType: 'custom-type' }, value: 2 });
  await changed;
  assert.equal((await obj.getCachedLayout()).value, 2);
  assert.equal((await obj.getCachedLayout()).value, 2);
  const layoutCalls = traffic.sent.filter((m) => m.method === 'GetLayout' && m.handle === obj.handle);
  assert.equal(layoutCalls.length, 2, 'two of four reads came from the cache');
});
