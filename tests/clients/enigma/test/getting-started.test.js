'use strict';
// The getting-started flow a newcomer runs: a session app, a folder connection, a CSV load and a
// hypercube over one field.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const qix = require('../lib/qix');

test('CSV through a folder connection into a hypercube', { timeout: 30000 }, async (t) => {
  const { app } = await qix.openSessionApp(t);
  const connectionId = await app.createConnection({ qName: 'data', qConnectionString: qix.env.dataDir, qType: 'folder' });
  assert.equal(typeof connectionId, 'string');
  const connections = await app.getConnections();
  assert.deepEqual(connections.map((c) => [c.qName, c.qType]), [['data', 'folder']]);
  await qix.load(app, `Movies:
LOAD * FROM [lib://data/movies.csv] (txt, utf8, embedded labels, delimiter is ',');`);
  const movie = await app.getField('Movie');
  assert.equal(await movie.getCardinal(), 50);
  const obj = await app.createSessionObject({ qInfo: { qType: 'movies' }, qHyperCubeDef: {
    qDimensions: [{ qDef: { qFieldDefs: ['Movie'] } }],
    qInitialDataFetch: [{ qTop: 0, qLeft: 0, qWidth: 1, qHeight: 10 }] } });
  const cube = (await obj.getLayout()).qHyperCube;
  assert.deepEqual(cube.qSize, { qcx: 1, qcy: 50 });
  const titles = cube.qDataPages[0].qMatrix.map((r) => r[0].qText);
  assert.equal(titles.length, 10);
  for (const title of ['Armageddon', 'Avatar', 'Battleship']) assert.ok(titles.includes(title), `${title} in ${titles}`);
  assert.equal(await app.evaluate('Count(Movie)'), '50');
  assert.equal(await app.evaluate('Max(Year)'), '2014');
});
