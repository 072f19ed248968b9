// #/apps/<id>/model: the data model from GetTablesAndKeys: tables as boxes with their fields (cardinality, tags),
// keys and synthetic keys drawn as SVG links, row counts, and a preview of any table (GetTableData).
import { h, fill, svg, errorText, formatNumber } from '../ui.js';

const BOX_W = 250;
const COL_GAP = 110;
const ROW_GAP = 36;
const HEAD_H = 46;
const FIELD_H = 22;
const MAX_FIELDS = 14;
const PREVIEW_ROWS = 40;

export default async function modelPage(view, ctx) {
  const { app } = await ctx.connect();
  const started = performance.now();
  const { qtr: tables = [], qk: keys = [] } = await app.getTablesAndKeys(
    { qcx: 1000, qcy: 1000 }, { qcx: 0, qcy: 0 }, 30, true, false,
  );
  const panel = h('aside.side#model-side', h('p.muted', 'Click a table to preview its rows, or a field for its details.'));
  if (!tables.length) {
    fill(view, h('div.toolbar', h('h1', 'Data model')),
      h('p.muted.empty', 'No data yet: write a load script and reload it on the Script page.'));
    return null;
  }
  const totalRows = tables.reduce((n, t) => n + (t.qNoOfRows || 0), 0);
  const layout = place(tables, keys);
  const canvas = draw(tables, keys, layout, { onTable: preview, onField: details });
  fill(view,
    h('div.toolbar', h('h1', 'Data model'),
      h('span.muted#model-summary', `${tables.length} table${tables.length === 1 ? '' : 's'}, ${keys.length} key${keys.length === 1 ? '' : 's'}, ${formatNumber(totalRows)} rows`)),
    h('div.model-body', h('div.canvas#model-canvas', canvas), panel));
  requestAnimationFrame(() => {
    const ms = performance.now() - started;
    performance.mark('hub:model-painted', { detail: { ms } });
    view.dataset.paintMs = ms.toFixed(0);
  });

  async function preview(table) {
    for (const el of view.querySelectorAll('.table-box.selected')) el.classList.remove('selected');
    view.querySelector(`.table-box[data-table="${CSS.escape(table.qName)}"]`)?.classList.add('selected');
    fill(panel, h('h2', table.qName), h('p.muted', 'Loading rows…'));
    try {
      const rows = await app.getTableData(0, PREVIEW_ROWS, true, table.qName);
      const names = table.qFields.map((f) => f.qName);
      fill(panel,
        h('h2', table.qName),
        h('p.muted', `${formatNumber(table.qNoOfRows)} rows, ${names.length} fields; the first ${Math.min(PREVIEW_ROWS, table.qNoOfRows)} rows:`),
        h('div.preview-wrap', h('table.grid.preview#table-preview',
          h('thead', h('tr', names.map((n) => h('th', n)))),
          h('tbody', rows.map((row) => h('tr', row.qValue.map((cell) => h(cell.qIsNumeric ? 'td.num' : 'td', cell.qText))))))));
    } catch (err) {
      fill(panel, h('h2', table.qName), h('p.error', errorText(err)));
    }
  }

  function details(table, field) {
    const facts = [
      ['Table', table.qName],
      ['Distinct values', formatNumber(field.qnTotalDistinctValues)],
      ['Present distinct', formatNumber(field.qnPresentDistinctValues)],
      ['Non-null rows', formatNumber(field.qnNonNulls)],
      ['Rows', formatNumber(field.qnRows)],
      ['Information density', `${((field.qInformationDensity || 0) * 100).toFixed(1)} %`],
      ['Subset ratio', `${((field.qSubsetRatio || 0) * 100).toFixed(1)} %`],
      ['Key', field.qKeyType === 'NOT_KEY' ? 'no' : (field.qKeyType || '').toLowerCase().replace('_', ' ')],
      ['Has nulls', field.qHasNull ? 'yes' : 'no'],
      ['Duplicates', field.qHasDuplicates ? 'yes' : 'no'],
    ];
    fill(panel, h('h2', field.qName),
      h('dl.facts#field-facts', facts.map(([k, v]) => [h('dt', k), h('dd', v)])),
      h('div.tags', (field.qTags || []).map((t) => h('span.tag', t))));
  }

  return null;
}

/** Columns by breadth-first distance over the keys from the most connected table; stacked within a column. */
function place(tables, keys) {
  const links = new Map(tables.map((t) => [t.qName, new Set()]));
  for (const key of keys) {
    for (const a of key.qTables) for (const b of key.qTables) if (a !== b) links.get(a)?.add(b);
  }
  const order = [...tables].sort((a, b) => links.get(b.qName).size - links.get(a.qName).size || a.qName.localeCompare(b.qName));
  const column = new Map();
  for (const start of order) {
    if (column.has(start.qName)) continue;
    const base = column.size ? Math.max(...column.values()) + 1 : 0;
    column.set(start.qName, base);
    const queue = [start.qName];
    while (queue.length) {
      const name = queue.shift();
      for (const next of links.get(name)) {
        if (!column.has(next)) {
          column.set(next, column.get(name) + 1);
          queue.push(next);
        }
      }
    }
  }
  // many tables in one column: wrap into more columns so the picture stays wide rather than tall
  const byColumn = new Map();
  for (const t of order) {
    const c = column.get(t.qName);
    if (!byColumn.has(c)) byColumn.set(c, []);
    byColumn.get(c).push(t);
  }
  const boxes = new Map();
  let x = 20;
  for (const c of [...byColumn.keys()].sort((a, b) => a - b)) {
    let y = 20;
    let col = byColumn.get(c);
    while (col.length) {
      const chunk = col.slice(0, 4);
      col = col.slice(4);
      y = 20;
      for (const t of chunk) {
        const height = HEAD_H + Math.min(t.qFields.length, MAX_FIELDS + (t.qFields.length > MAX_FIELDS ? 1 : 0)) * FIELD_H + 8;
        boxes.set(t.qName, { x, y, w: BOX_W, h: height });
        y += height + ROW_GAP;
      }
      x += BOX_W + COL_GAP;
    }
  }
  return boxes;
}

function fieldOrder(table) {
  const fields = [...table.qFields];
  fields.sort((a, b) => (a.qKeyType === 'NOT_KEY') - (b.qKeyType === 'NOT_KEY'));
  return fields;
}

function draw(tables, keys, boxes, { onTable, onField }) {
  const width = Math.max(...[...boxes.values()].map((b) => b.x + b.w)) + 90; // room for links within a column
  const height = Math.max(...[...boxes.values()].map((b) => b.y + b.h)) + 20;
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'model', role: 'img', 'aria-label': 'Data model' });
  const rowY = new Map(); // "table\u0000field" -> y of the field's row centre
  const linkLayer = svg('g', { class: 'links' });
  root.append(linkLayer);
  for (const table of tables) {
    const box = boxes.get(table.qName);
    const synthetic = table.qIsSynthetic || table.qName.startsWith('$Syn');
    const group = svg('g', { class: `table-box${synthetic ? ' synthetic' : ''}`, 'data-table': table.qName, transform: `translate(${box.x},${box.y})` });
    group.append(
      svg('rect', { class: 'box', width: box.w, height: box.h, rx: 6 }),
      svg('rect', { class: 'head', width: box.w, height: HEAD_H - 6, rx: 6, onclick: () => onTable(table) }),
      svg('text', { class: 'name', x: 10, y: 18, onclick: () => onTable(table) }, clip(table.qName, 28)),
      svg('text', { class: 'rows', x: 10, y: 34, onclick: () => onTable(table) }, `${formatNumber(table.qNoOfRows)} rows`),
    );
    const fields = fieldOrder(table);
    fields.slice(0, MAX_FIELDS).forEach((field, i) => {
      const y = HEAD_H + i * FIELD_H;
      const key = field.qKeyType !== 'NOT_KEY';
      rowY.set(`${table.qName}\u0000${field.qName}`, box.y + y + FIELD_H / 2);
      const row = svg('g', { class: `field${key ? ' key' : ''}${field.qIsSynthetic ? ' synthetic' : ''}`, 'data-field': field.qName,
        transform: `translate(0,${y})`, onclick: () => onField(table, field) },
      svg('rect', { width: box.w, height: FIELD_H }),
      key ? svg('circle', { class: 'keymark', cx: 13, cy: 11, r: 4 }) : null,
      svg('text', { x: key ? 24 : 10, y: 15 }, clip(field.qName, key ? 22 : 24)),
      svg('text', { class: 'card', x: box.w - 10, y: 15, 'text-anchor': 'end' }, formatNumber(field.qnTotalDistinctValues)),
      svg('title', {}, `${field.qName}: ${formatNumber(field.qnTotalDistinctValues)} distinct; tags: ${(field.qTags || []).join(', ') || 'none'}`));
      group.append(row);
    });
    if (fields.length > MAX_FIELDS) {
      group.append(svg('text', { class: 'more', x: 10, y: HEAD_H + MAX_FIELDS * FIELD_H + 15 }, `+ ${fields.length - MAX_FIELDS} more fields`));
    }
    group.append(svg('title', {}, `${table.qName}: ${formatNumber(table.qNoOfRows)} rows`));
    root.append(group);
  }
  for (const key of keys) {
    const fields = key.qKeyFields || [];
    const synthetic = fields.some((f) => f.startsWith('$Syn'));
    // a synthetic key links each of its tables to the synthetic key table, not to one another
    const hubTable = key.qTables.find((t) => t.startsWith('$Syn'));
    const pairs = [];
    key.qTables.forEach((a, i) => key.qTables.slice(i + 1).forEach((b) => {
      if (!hubTable || a === hubTable || b === hubTable) pairs.push([a, b]);
    }));
    for (const [first, second] of pairs) {
      for (const field of fields) {
        let [a, b] = [first, second];
        if (boxes.get(a).x > boxes.get(b).x) [a, b] = [b, a];
        const ya = rowY.get(`${a}\u0000${field}`);
        const yb = rowY.get(`${b}\u0000${field}`);
        if (ya === undefined || yb === undefined) continue;
        const ba = boxes.get(a);
        const bb = boxes.get(b);
        const sameColumn = ba.x === bb.x;
        const x1 = ba.x + ba.w;
        const x2 = sameColumn ? bb.x + bb.w : bb.x;
        const bend = sameColumn ? 60 : Math.max(40, (x2 - x1) / 2);
        const d = `M${x1},${ya} C${x1 + bend},${ya} ${x2 + (sameColumn ? bend : -bend)},${yb} ${x2},${yb}`;
        linkLayer.append(svg('path', { class: `link${synthetic ? ' synthetic' : ''}`, d, 'data-key': field, 'data-from': a, 'data-to': b },
          svg('title', {}, `${a} ⟷ ${b} on ${field}${synthetic ? ' (synthetic key)' : ''}`)));
      }
    }
  }
  return root;
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
