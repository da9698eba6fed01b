// Finance: trial balance, liability by expiry month, breakage, cost per campaign and per
// funding account, the roll-forward, and three charts: liability by expiry month, campaign
// cost against budget, points issued and redeemed per day.
import { api, withQuery } from '../api.js';
import { barChart, lineChart } from '../charts.js';
import { clear, field, fill, fmt, h, isoDay, notice, page, pill, problemNotice, section, stats, table } from '../ui.js';

export async function render(container) {
  container.append(...page('Finance', 'What the program owes, what it cost, and whether the books balance.'));
  const from = h('input', { type: 'date', name: 'from', value: isoDay(-30), required: true });
  const to = h('input', { type: 'date', name: 'to', value: isoDay(1), required: true });
  const form = h('form', { class: 'inline', 'aria-label': 'Report period' },
    field('From (UTC day, inclusive)', from), field('To (UTC day, exclusive)', to), h('button', { type: 'submit', text: 'Show' }));
  const body = h('div');
  container.append(form, body);
  const show = () => {
    clear(body);
    if (!from.value || !to.value || from.value >= to.value) {
      body.append(notice('error', 'Choose a period whose start is before its end.'));
      return;
    }
    const fromTime = `${from.value}T00:00:00Z`;
    const toTime = `${to.value}T00:00:00Z`;
    body.append(liabilitySections(fromTime, toTime), dailySection(fromTime, toTime), trialBalanceSection());
  };
  form.addEventListener('submit', (event) => { event.preventDefault(); show(); });
  show();
}

function liabilitySections(fromTime, toTime) {
  const holder = h('div');
  fill(holder, async () => {
    const report = await api(withQuery('/v1/reports/liability', { from: fromTime, to: toTime }));
    let program = null;
    try { program = await api('/v1/program'); } catch (error) { program = { error }; }
    return { report, program };
  }, ({ report, program }) => {
    const currency = report.currency || 'CNY';
    const o = report.outstanding || {};
    const months = report.by_expiry_month || [];
    return [
      section('Outstanding points',
        stats([
          ['Available', fmt.int(o.available)], ['Pending', fmt.int(o.pending)], ['Held', fmt.int(o.held)],
          ['Total', fmt.int(o.total)], ['Value', fmt.cents(o.value_cents, currency)],
          ['Breakage to date', `${fmt.int(report.breakage && report.breakage.points)} points`],
          ['Breakage value', fmt.cents(report.breakage && report.breakage.value_cents, currency)],
          ['Point value', fmt.cents(report.point_value_cents, currency)],
        ])),
      section('Liability by expiry month',
        months.length ? barChart({
          title: 'Outstanding points by expiry month',
          description: `Stacked bars of available, pending and held points for ${months.length} expiry months.`,
          labels: months.map((m) => m.month),
          series: [
            { name: 'Available', values: months.map((m) => m.available) },
            { name: 'Pending', values: months.map((m) => m.pending) },
            { name: 'Held', values: months.map((m) => m.held) },
          ],
          stacked: true, yLabel: 'points',
        }) : null,
        table([
          { label: 'Expiry month', value: (m) => m.month, header: true },
          { label: 'Available', value: (m) => fmt.int(m.available), numeric: true },
          { label: 'Pending', value: (m) => fmt.int(m.pending), numeric: true },
          { label: 'Held', value: (m) => fmt.int(m.held), numeric: true },
          { label: 'Value', value: (m) => fmt.cents(m.value_cents, currency), numeric: true },
        ], months, { caption: 'By expiry month (lots as they are now)', empty: 'No outstanding lots.' })),
      campaignSection(report, program, currency),
      section('Cost per funding account', table([
        { label: 'Funding account', value: (c) => c.name, header: true },
        { label: 'Points issued', value: (c) => fmt.int(c.points), numeric: true },
        { label: 'Cost', value: (c) => fmt.cents(c.cost_cents, currency), numeric: true },
      ], report.funding_accounts || [], { caption: 'Funding accounts', empty: 'No funding accounts.' })),
      rollForwardSection(report.roll_forward),
    ];
  }, 'The liability report');
  return holder;
}

function campaignSection(report, program, currency) {
  const costs = new Map((report.campaigns || []).map((c) => [c.name, c]));
  const defined = program && program.document ? program.document.campaigns || [] : [];
  const names = [...new Set([...defined.map((c) => c.id), ...costs.keys()])];
  const budgetOf = new Map(defined.map((c) => [c.id, c.budget_points]));
  const rows = names.map((name) => ({
    name, points: (costs.get(name) || {}).points || 0, cost_cents: (costs.get(name) || {}).cost_cents || 0,
    budget: budgetOf.has(name) ? budgetOf.get(name) : null,
  }));
  const budgetsKnown = Boolean(program && program.document);
  return section('Campaign cost against budget',
    budgetsKnown ? null : problemNotice(program.error, 'Campaign budgets (from the program)'),
    rows.length ? barChart({
      title: 'Campaign cost against budget',
      description: `Bonus points paid per campaign as bars, each campaign's budget as a dashed line; ${rows.length} campaigns.`,
      labels: rows.map((r) => r.name),
      series: [{ name: 'Points paid', values: rows.map((r) => r.points) }],
      budgets: budgetsKnown ? rows.map((r) => r.budget) : undefined,
      budgetName: 'Budget (points)', yLabel: 'points',
    }) : null,
    table([
      { label: 'Campaign', value: (r) => r.name, header: true },
      { label: 'Points paid', value: (r) => fmt.int(r.points), numeric: true },
      { label: 'Cost', value: (r) => fmt.cents(r.cost_cents, currency), numeric: true },
      { label: 'Budget (points)', value: (r) => (r.budget === null ? '—' : fmt.int(r.budget)), numeric: true },
      { label: 'Budget used', value: (r) => (r.budget ? `${((100 * r.points) / r.budget).toFixed(1)}%` : '—'), numeric: true },
    ], rows, { caption: 'Campaigns', empty: 'No campaigns.' }));
}

function rollForwardSection(roll) {
  if (!roll) return section('Roll-forward', h('p', { class: 'muted', text: 'No roll-forward for this period.' }));
  const lines = [
    ['Opening', roll.opening], ['+ Issued', roll.issued], ['− Redeemed', roll.redeemed], ['− Expired', roll.expired],
    ['− Exchanged', roll.exchanged], ['+ Adjustments', roll.adjustments], ['= Closing', roll.closing],
  ];
  return section('Roll-forward of members\' points',
    h('p', {}, `From ${fmt.time(roll.from)} to ${fmt.time(roll.to)}: `,
      pill(roll.balanced ? 'balanced' : 'does NOT balance', roll.balanced ? 'ok' : 'bad')),
    h('div', { class: 'grid' },
      table([
        { label: 'Line', value: (r) => r[0], header: true },
        { label: 'Points', value: (r) => fmt.int(r[1]), numeric: true },
      ], lines, { caption: 'Roll-forward' }),
      table([
        { label: 'Entry kind', value: (r) => r.kind, header: true },
        { label: 'Net change', value: (r) => fmt.signed(r.amount), numeric: true },
      ], roll.by_kind || [], { caption: 'Net change by entry kind', empty: 'No movement.' })));
}

function dailySection(fromTime, toTime) {
  const body = h('div');
  fill(body, () => api(withQuery('/v1/reports/daily', { from: fromTime, to: toTime })), (data) => {
    const days = data.days || [];
    return [
      days.length ? lineChart({
        title: 'Points issued and redeemed per day',
        description: `Lines of points issued, redeemed and expired for ${days.length} UTC days from ${fmt.date(data.from)}.`,
        labels: days.map((d) => d.date),
        series: [
          { name: 'Issued', values: days.map((d) => d.issued) },
          { name: 'Redeemed', values: days.map((d) => d.redeemed) },
          { name: 'Expired', values: days.map((d) => d.expired) },
        ],
        yLabel: 'points',
      }) : null,
      h('details', {}, h('summary', { text: 'The figures per day' }), table([
        { label: 'Day', value: (d) => d.date, header: true },
        { label: 'Issued', value: (d) => fmt.int(d.issued), numeric: true },
        { label: 'Redeemed', value: (d) => fmt.int(d.redeemed), numeric: true },
        { label: 'Expired', value: (d) => fmt.int(d.expired), numeric: true },
        { label: 'Adjusted', value: (d) => fmt.signed(d.adjusted), numeric: true },
      ], days, { caption: 'Points per UTC day', empty: 'No days.' })),
    ];
  }, 'Daily activity');
  return section('Points issued and redeemed per day', body);
}

function trialBalanceSection() {
  const body = h('div');
  fill(body, () => api('/v1/reports/trial-balance'), (report) => {
    const accounts = report.accounts || [];
    const system = accounts.filter((a) => !a.account.startsWith('member:'));
    const members = accounts.filter((a) => a.account.startsWith('member:'));
    const memberTotals = {};
    for (const a of members) memberTotals[a.asset] = (memberTotals[a.asset] || 0) + Number(a.balance);
    const totals = Object.entries(report.totals || {});
    const balanced = totals.every(([, value]) => Number(value) === 0);
    return [
      h('p', {}, `As of ${fmt.time(report.as_of)}: `, pill(balanced ? 'every asset sums to zero' : 'does NOT sum to zero', balanced ? 'ok' : 'bad')),
      table([
        { label: 'Asset', value: (r) => r[0], header: true },
        { label: 'Sum of all accounts', value: (r) => fmt.int(r[1]), numeric: true },
      ], totals, { caption: 'Totals per asset' }),
      table([
        { label: 'Account', value: (a) => a.account, header: true },
        { label: 'Asset', value: (a) => a.asset },
        { label: 'Balance', value: (a) => fmt.signed(a.balance), numeric: true },
      ], [...system, ...Object.entries(memberTotals).map(([asset, balance]) => ({ account: `all member accounts (${members.filter((m) => m.asset === asset).length})`, asset, balance }))],
      { caption: 'System accounts, and member accounts summed', empty: 'No accounts.' }),
    ];
  }, 'The trial balance');
  return section('Trial balance', body);
}
