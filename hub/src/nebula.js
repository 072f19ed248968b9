// nebula.js (@nebula.js/stardust) with the sn-* charts the hub uses, and the sheet's default fields.
import { embed } from '@nebula.js/stardust';
import barchart from '@nebula.js/sn-bar-chart';
import linechart from '@nebula.js/sn-line-chart';
import table from '@nebula.js/sn-table';
import kpi from '@nebula.js/sn-kpi';
import filterpane from '@nebula.js/sn-filter-pane';
import pivot from '@nebula.js/sn-pivot-table';
import piechart from '@nebula.js/sn-pie-chart';

const TYPES = { barchart, linechart, table, kpi, filterpane, 'pivot-table': pivot, piechart };

/** A nebula.js instance on an enigma Doc, with every chart type of the hub registered. */
export function nebula(app) {
  return embed(app, {
    context: { theme: 'light', language: 'en-US' },
    types: Object.entries(TYPES).map(([name, chart]) => ({ name, load: () => Promise.resolve(chart) })),
  });
}

function bracket(name) {
  return `[${name.replace(/]/g, ']]')}]`;
}

/**
 * The sheet's fields: from the address (?dim=&dim2=&measure=&filters=a,b) where given, else picked from the model:
 * dimensions are text fields of few distinct values, the measure sums the first other numeric field.
 */
export function sheetFields(tables, query) {
  const all = [];
  const seen = new Set();
  for (const t of tables) {
    for (const f of t.qFields) {
      if (!seen.has(f.qName) && !f.qName.startsWith('$')) {
        seen.add(f.qName);
        all.push(f);
      }
    }
  }
  const small = all.filter((f) => f.qnTotalDistinctValues >= 2 && f.qnTotalDistinctValues <= 60);
  const texty = small.filter((f) => (f.qTags || []).includes('$text'));
  const dims = (texty.length ? texty : small).concat(all.filter((f) => !small.includes(f)));
  const dim = query.get('dim') || dims[0]?.qName || all[0]?.qName || '';
  const dim2 = query.get('dim2') || dims.find((f) => f.qName !== dim)?.qName || dim;
  // a numeric field that is no key and (preferably) no row id
  const numbers = all.filter((f) => (f.qTags || []).includes('$numeric') && f.qName !== dim && f.qName !== dim2
    && f.qKeyType === 'NOT_KEY' && !(f.qTags || []).includes('$key'));
  const numeric = numbers.find((f) => f.qHasDuplicates) || numbers[0];
  const measure = query.get('measure') || (numeric ? `Sum(${bracket(numeric.qName)})` : `Count(${bracket(dim)})`);
  const filters = query.has('filters')
    ? query.get('filters').split(',').map((s) => s.trim()).filter(Boolean)
    : [...new Set([dim, dim2])].filter(Boolean);
  return { dim, dim2, measure, filters, fields: all.map((f) => f.qName) };
}
