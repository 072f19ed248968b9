// #/apps/<id>/sheet?dim=&dim2=&measure=&filters=: filter panes, a bar chart, a line chart, a KPI and a table
// rendered by nebula.js; nebula's current selections bar (with its back / forward / clear all buttons). Selections in any chart reach the
// others through the engine (each chart is a session object whose layout the engine invalidates).
import { h, fill, errorText } from '../ui.js';
import { nebula, sheetFields } from '../nebula.js';

export default async function sheetPage(view, ctx) {
  const { app } = await ctx.connect();
  const { qtr: tables = [] } = await app.getTablesAndKeys({ qcx: 1000, qcy: 1000 }, { qcx: 0, qcy: 0 }, 30, true, false);
  if (!tables.length) {
    fill(view, h('div.toolbar', h('h1', 'Sheet')), h('p.muted.empty', 'No data yet: reload a script first.'));
    return null;
  }
  const cfg = sheetFields(tables, ctx.query);
  const n = nebula(app);
  const slot = (name, title) => h('div.chart-card', h('div.chart', { dataset: { chart: name }, 'aria-label': title }));
  const cards = {
    filters: slot('filterpane', 'Filter pane'),
    kpi: slot('kpi', 'KPI'),
    bar: slot('barchart', 'Bar chart'),
    line: slot('linechart', 'Line chart'),
    table: slot('table', 'Table'),
  };
  const selectionsBar = h('div.selections#selections-bar');
  fill(view,
    h('div.toolbar', h('h1', 'Sheet'), configForm(cfg, ctx.appId)),
    selectionsBar,
    h('div.sheet-grid', cards.filters, cards.kpi, cards.bar, cards.line, cards.table));

  const measure = `=${cfg.measure}`;
  const vizzes = [];
  const render = async (card, type, fields, properties = {}) => {
    const element = card.querySelector('.chart');
    try {
      const viz = await n.render({ element, type, fields, properties });
      vizzes.push(viz);
      element.dataset.rendered = 'true';
      element.dataset.objectId = viz.id;
    } catch (err) {
      element.dataset.rendered = 'error';
      fill(element, h('p.error', `${type}: ${errorText(err)}`));
    }
  };
  const selections = await n.selections();
  selections.mount(selectionsBar);
  await Promise.all([
    cfg.filters.length ? render(cards.filters, 'filterpane', cfg.filters) : null,
    render(cards.kpi, 'kpi', [measure], { title: cfg.measure }),
    render(cards.bar, 'barchart', [cfg.dim, measure], { title: `${cfg.measure} by ${cfg.dim}` }),
    render(cards.line, 'linechart', [cfg.dim2, measure], { title: `${cfg.measure} by ${cfg.dim2}` }),
    render(cards.table, 'table', [...new Set([cfg.dim, cfg.dim2]), measure], { title: 'Table' }),
  ]);
  return async () => {
    selections.unmount();
    await ctx.disconnect(); // the session, and with it every chart's object, ends with its socket
  };
}

/** Change the sheet's fields: a new address, so every sheet has a stable one. */
function configForm(cfg, appId) {
  const option = (value, selected) => h('option', { value, selected: value === selected }, value);
  const dim = h('select#cfg-dim', cfg.fields.map((f) => option(f, cfg.dim)));
  const dim2 = h('select#cfg-dim2', cfg.fields.map((f) => option(f, cfg.dim2)));
  const measure = h('input#cfg-measure', { type: 'text', value: cfg.measure, size: 22 });
  const filters = h('input#cfg-filters', { type: 'text', value: cfg.filters.join(','), size: 22, title: 'Fields for the filter pane, comma-separated' });
  return h('details.config', h('summary', 'Fields'),
    h('form', {
      onsubmit: (event) => {
        event.preventDefault();
        const q = new URLSearchParams({ dim: dim.value, dim2: dim2.value, measure: measure.value, filters: filters.value });
        location.hash = `#/apps/${encodeURIComponent(appId)}/sheet?${q}`;
      },
    },
    h('label', 'Bar dimension ', dim), h('label', 'Line dimension ', dim2),
    h('label', 'Measure ', measure), h('label', 'Filter fields ', filters),
    h('button.primary', { type: 'submit' }, 'Apply')));
}
