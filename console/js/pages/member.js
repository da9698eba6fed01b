// Members: find one by external id or member id; balances, lots and what expires when, the
// statement, both tier tracks, holds, orders and refunds, partner links; personal-data
// erasure for admins. Finance sees members' statements only (its role reads nothing else).
import { api, encode, withQuery } from '../api.js';
import {
  append, clear, field, fill, fmt, h, notice, page, pagedTable, pill, problemNotice, section, select, stats, table,
} from '../ui.js';

export async function render(container, { role, args, go }) {
  const memberId = args[0];
  append(container, page('Members', role === 'finance'
    ? 'A member\'s statement, by member id (finance reads statements only).'
    : 'Find a member by the mall\'s external id or by member id.'));
  container.append(lookupForm(role, go, memberId));
  if (!memberId) return;
  const sections = h('div', { id: 'member-detail' });
  container.append(sections);
  if (role === 'finance') {
    sections.append(statementSection(memberId));
    return;
  }
  const profile = h('div');
  sections.append(section('Profile', profile));
  fill(profile, () => api(`/v1/members/${encode(memberId)}`), (member) => profileView(member, role, go), 'The member');
  sections.append(balancesSection(memberId), lotsSection(memberId), tiersSection(memberId), statementSection(memberId),
    holdsSection(memberId), ordersSection(memberId), linksSection(memberId));
  if (role === 'admin') sections.append(erasureSection(memberId));
}

function lookupForm(role, go, current) {
  const kinds = role === 'finance' ? [['member_id', 'Member id']] : [['external_id', 'External id'], ['member_id', 'Member id']];
  const kind = select(kinds, { id: 'lookup-kind', name: 'kind' });
  const value = h('input', { id: 'lookup-value', name: 'value', type: 'search', required: true, autocomplete: 'off', size: 34, value: current || '' });
  if (current) kind.value = 'member_id';
  const result = h('div', { id: 'lookup-result' });
  const form = h('form', { class: 'inline', role: 'search', 'aria-label': 'Find a member' },
    field('Find by', kind), field('Value', value), h('button', { type: 'submit', text: 'Find' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(result);
    const text = value.value.trim();
    if (!text) { result.append(notice('error', 'Enter an external id or a member id.')); value.focus(); return; }
    if (kind.value === 'member_id') { go('member', text); return; }
    try {
      const found = await api(withQuery('/v1/members', { external_id: text }));
      const items = found.items || [];
      if (items.length === 0) result.append(notice('info', `No member has the external id “${text}”.`));
      else go('member', items[0].member_id);
    } catch (error) {
      result.append(problemNotice(error, 'Looking up by external id'));
    }
  });
  return h('div', {}, form, result);
}

function profileView(member, role, go) {
  const tiers = member.tiers || {};
  return [
    stats([
      ['Member id', member.member_id],
      ['External id', fmt.text(member.external_id)],
      ['Name', fmt.text(member.display_name)],
      ['Phone', fmt.text(member.phone)],
      ['Spend tier', fmt.text(tiers.spend && tiers.spend.level)],
      ['Engagement tier', fmt.text(tiers.engagement && tiers.engagement.level)],
      ['Member since', fmt.date(member.created_at)],
    ]),
    role === 'admin' ? h('p', {}, h('a', { href: `#/adjustments/${encode(member.member_id)}`, text: 'Adjust this member\'s balance' })) : null,
  ];
}

function balancesSection(memberId) {
  const body = h('div');
  fill(body, () => api(`/v1/members/${encode(memberId)}/balances`), (data) => {
    const assets = Object.entries(data.balances || {});
    const rows = assets.map(([asset, b]) => ({ asset, ...b }));
    const expiring = assets.flatMap(([asset, b]) => (b.expiring || []).map((e) => ({ asset, ...e })));
    return [
      table([
        { label: 'Asset', value: (r) => r.asset, header: true },
        { label: 'Available', value: (r) => fmt.int(r.available), numeric: true },
        { label: 'Pending', value: (r) => fmt.int(r.pending), numeric: true },
        { label: 'Held', value: (r) => fmt.int(r.held), numeric: true },
        { label: 'Total', value: (r) => fmt.int(r.total), numeric: true },
      ], rows, { caption: 'Balances by asset', empty: 'No balances yet.' }),
      table([
        { label: 'Asset', value: (r) => r.asset },
        { label: 'Expires at', value: (r) => fmt.time(r.expires_at) },
        { label: 'Amount', value: (r) => fmt.int(r.amount), numeric: true },
      ], expiring, { caption: 'What expires when', empty: 'Nothing is due to expire.' }),
    ];
  }, 'Balances');
  return section('Balances', body);
}

function lotsSection(memberId) {
  const status = select([['open', 'Open (points left)'], ['all', 'All lots']], { name: 'lot-status' });
  const body = h('div');
  const load = () => fill(body, () => api(withQuery(`/v1/members/${encode(memberId)}/lots`, { status: status.value, limit: 200 })),
    (data) => table([
      { label: 'Lot', value: (r) => r.lot_id, header: true },
      { label: 'Asset', value: (r) => r.asset },
      { label: 'Amount', value: (r) => fmt.int(r.amount), numeric: true },
      { label: 'Remaining', value: (r) => fmt.int(r.remaining), numeric: true },
      { label: 'Earned', value: (r) => fmt.time(r.earned_at) },
      { label: 'Available from', value: (r) => fmt.time(r.available_at) },
      { label: 'Expires', value: (r) => fmt.time(r.expires_at) },
      { label: 'Status', value: (r) => pill(r.status, r.status === 'expired' ? 'bad' : r.status === 'available' ? 'ok' : '') },
    ], data.items, { caption: 'Lots, soonest expiry first', empty: 'No lots.' }), 'Lots');
  status.addEventListener('change', load);
  load();
  return section('Lots', h('div', { class: 'row' }, field('Show', status)), body);
}

function trackView(name, track) {
  const next = track.next_level;
  return h('div', {},
    h('h3', { text: `${name[0].toUpperCase()}${name.slice(1)} track` }),
    stats([
      ['Level', fmt.text(track.level)],
      ['Qualifying value', fmt.int(track.qualifying_value)],
      ['Window', track.window ? `${track.window.kind}${track.window.days ? ` ${track.window.days} days` : ''} from ${fmt.date(track.window.from)}` : '—'],
      ['Next level', next ? `${next.code} at ${fmt.int(next.threshold)}` : 'top level'],
      ['Missing for next', next ? fmt.int(next.missing) : '—'],
      ['Guaranteed until', fmt.time(track.guaranteed_until)],
      ...(track.floor_level ? [['Floor', `${track.floor_level} until ${fmt.time(track.floor_until)}`]] : []),
    ]),
    table([
      { label: 'When', value: (r) => fmt.time(r.changed_at) },
      { label: 'From', value: (r) => fmt.text(r.from_level) },
      { label: 'To', value: (r) => fmt.text(r.to_level) },
      { label: 'Reason', value: (r) => r.reason },
      { label: 'Qualifying value', value: (r) => fmt.int(r.qualifying_value), numeric: true },
      { label: 'Because of', value: (r) => r.event_id ? `event ${r.event_id}` : r.job ? `job ${r.job}` : r.actor || '—' },
      { label: 'Note', value: (r) => fmt.text(r.note) },
    ], track.history || [], { caption: `History of the ${name} track, newest first`, empty: 'No changes yet.' }));
}

function tiersSection(memberId) {
  const body = h('div');
  fill(body, () => api(`/v1/members/${encode(memberId)}/tiers`), (data) => {
    const tracks = data.tracks || {};
    return h('div', {}, Object.keys(tracks).sort().reverse().map((name) => trackView(name, tracks[name])));
  }, 'Tiers');
  return section('Tiers', body);
}

function statementSection(memberId) {
  const asset = select([['', 'All assets'], 'POINTS', 'GROWTH'], { name: 'statement-asset' });
  const body = h('div');
  const load = () => {
    clear(body).append(pagedTable(withQuery(`/v1/members/${encode(memberId)}/entries`, { asset: asset.value }), [
      { label: 'When', value: (r) => fmt.time(r.created_at) },
      { label: 'Entry', value: (r) => r.entry_id },
      { label: 'Kind', value: (r) => r.kind },
      { label: 'Asset', value: (r) => r.asset },
      { label: 'Part', value: (r) => r.part },
      { label: 'Amount', value: (r) => fmt.signed(r.amount), numeric: true },
      { label: 'Balance after', value: (r) => fmt.int(r.balance_after), numeric: true },
      { label: 'Reference', value: (r) => (r.reverses_entry_id ? `reverses ${r.reverses_entry_id}` : fmt.text(r.reference)), wrap: true },
    ], { caption: 'Statement, newest first', empty: 'No entries yet.', what: 'The statement', rowClass: (r) => (r.amount < 0 ? 'neg' : undefined) }));
  };
  asset.addEventListener('change', load);
  load();
  return section('Statement', h('div', { class: 'row' }, field('Asset', asset)), body);
}

function holdsSection(memberId) {
  const body = h('div');
  body.append(pagedTable(`/v1/members/${encode(memberId)}/holds`, [
    { label: 'Hold', value: (r) => r.hold_id, header: true },
    { label: 'Status', value: (r) => pill(r.status, r.status === 'open' ? 'warn' : '') },
    { label: 'Amount', value: (r) => fmt.int(r.amount), numeric: true },
    { label: 'Captured', value: (r) => fmt.int(r.captured_amount), numeric: true },
    { label: 'Reference', value: (r) => fmt.text(r.reference) },
    { label: 'Expires', value: (r) => fmt.time(r.expires_at) },
    { label: 'Created', value: (r) => fmt.time(r.created_at) },
  ], { caption: 'Holds, newest first', empty: 'No holds.', what: 'Holds' }));
  return section('Holds', body);
}

function ordersSection(memberId) {
  const body = h('div');
  fill(body, () => api(withQuery(`/v1/members/${encode(memberId)}/orders`, { limit: 100 })), (data) => {
    const orders = data.items || [];
    const refunds = orders.flatMap((o) => (o.refunds || []).map((r) => ({ ...r, order_id: o.order_id })));
    return [
      table([
        { label: 'Order', value: (r) => r.order_id, header: true },
        { label: 'Status', value: (r) => pill(r.status) },
        { label: 'Total', value: (r) => fmt.cents(r.total_cents, r.currency), numeric: true },
        { label: 'Points used', value: (r) => fmt.int(r.points_to_use), numeric: true },
        { label: 'Cash', value: (r) => fmt.cents(r.cash_cents, r.currency), numeric: true },
        { label: 'Refunded points', value: (r) => fmt.int(r.refunded_points), numeric: true },
        { label: 'Refunded cash', value: (r) => fmt.cents(r.refunded_cash_cents, r.currency), numeric: true },
        { label: 'Created', value: (r) => fmt.time(r.created_at) },
      ], orders, { caption: 'Orders, newest first', empty: 'No orders.' }),
      refunds.length ? table([
        { label: 'Refund', value: (r) => r.refund_id, header: true },
        { label: 'Order', value: (r) => r.order_id },
        { label: 'Points back', value: (r) => fmt.int(r.points_to_member), numeric: true },
        { label: 'Points to breakage', value: (r) => fmt.int(r.points_expired), numeric: true },
        { label: 'Cash back', value: (r) => fmt.cents(r.cash_cents), numeric: true },
        { label: 'When', value: (r) => fmt.time(r.created_at) },
      ], refunds, { caption: 'Refunds' }) : null,
    ];
  }, 'Orders');
  return section('Orders and refunds', body);
}

function linksSection(memberId) {
  const body = h('div');
  fill(body, () => api(`/v1/members/${encode(memberId)}/partner-links`), (data) => table([
    { label: 'Partner', value: (r) => r.partner_id, header: true },
    { label: 'Partner\'s member ref', value: (r) => r.partner_member_ref },
    { label: 'Status', value: (r) => pill(r.status, r.status === 'confirmed' ? 'ok' : 'warn') },
    { label: 'Linked', value: (r) => fmt.time(r.created_at || r.linked_at) },
    { label: 'Confirmed', value: (r) => fmt.time(r.confirmed_at) },
  ], data.items, { caption: 'Links to partner accounts', empty: 'No partner links.' }), 'Partner links');
  return section('Partner links', body);
}

function erasureSection(memberId) {
  const body = h('div');
  const start = h('button', { type: 'button', class: 'danger', text: 'Erase personal data…' });
  body.append(h('p', { class: 'muted', text: 'Clears the member\'s name and phone. The ledger and the member id stay; this cannot be undone.' }), start);
  start.addEventListener('click', () => {
    start.hidden = true;
    const confirmInput = h('input', { type: 'text', autocomplete: 'off', size: 34 });
    const go = h('button', { type: 'submit', class: 'danger', text: 'Erase now' });
    const cancel = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const outcome = h('div');
    const form = h('form', { class: 'confirm', 'aria-label': 'Confirm erasure' },
      h('h3', { text: 'Confirm erasure' }),
      h('p', {}, 'Type the member id ', h('code', { text: memberId }), ' to confirm.'),
      h('div', { class: 'row' }, field('Member id', confirmInput), go, cancel), outcome);
    cancel.addEventListener('click', () => { form.remove(); start.hidden = false; start.focus(); });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(outcome);
      if (confirmInput.value.trim() !== memberId) {
        outcome.append(notice('error', 'The member id typed does not match; nothing was erased.'));
        return;
      }
      go.disabled = true;
      try {
        const result = await api(`/v1/members/${encode(memberId)}/personal-data`, { method: 'DELETE' });
        outcome.append(notice('ok', result.erased_fields && result.erased_fields.length
          ? `Erased ${result.erased_fields.join(', ')} at ${fmt.time(result.erased_at)}.`
          : `Nothing left to erase (already erased at ${fmt.time(result.erased_at)}).`));
      } catch (error) {
        outcome.append(problemNotice(error, 'Erasure'));
      } finally {
        go.disabled = false;
      }
    });
    body.append(form);
    confirmInput.focus();
  });
  return section('Personal data', body);
}
