// #/apps/<id>/charts: the chart types the sheet does not use (sn-pivot-table, sn-pie-chart), on the same fields.
import { h, fill, errorText } from '../ui.js';
import { nebula, sheetFields } from '../nebula.js';

export default async function chartsPage(view, ctx) {
  const { app } = await ctx.connect();
  const { qtr: tables = [] } = await app.getTablesAndKeys({ qcx: 1000, qcy: 1000 }, { qcx: 0, qcy: 0 }, 30, true, false);
  if (!tables.length) {
    fill(view, h('div.toolbar', h('h1', 'More charts')), h('p.muted.empty', 'No data yet: reload a script first.'));
    return null;
  }
  const cfg = sheetFields(tables, ctx.query);
  const n = nebula(app);
  const pie = h('div.chart', { dataset: { chart: 'piechart' } });
  const pivot = h('div.chart', { dataset: { chart: 'pivot-table' } });
  const selectionsBar = h('div.selections');
  fill(view, h('div.toolbar', h('h1', 'More charts')), selectionsBar,
    h('div.sheet-grid.two', h('div.chart-card', pie), h('div.chart-card', pivot)));
  const selections = await n.selections();
  selections.mount(selectionsBar);
  const measure = `=${cfg.measure}`;
  const vizzes = [];
  const render = async (element, type, fields, title) => {
    try {
      const viz = await n.render({ element, type, fields, properties: { title } });
      vizzes.push(viz);
      element.dataset.rendered = 'true';
      element.dataset.objectId = viz.id;
    } catch (err) {
      element.dataset.rendered = 'error';
      fill(element, h('p.error', `${type}: ${errorText(err)}`));
    }
  };
  await Promise.all([
    render(pie, 'piechart', [cfg.dim, measure], `${cfg.measure} by ${cfg.dim}`),
    render(pivot, 'pivot-table', [...new Set([cfg.dim, cfg.dim2]), measure], `${cfg.measure} by ${cfg.dim} and ${cfg.dim2}`),
  ]);
  return async () => {
    selections.unmount();
    await ctx.disconnect(); // the session, and with it every chart's object, ends with its socket
  };
}
