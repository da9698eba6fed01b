// Partners: the partner brands, their keys (a secret is shown once, when it is made),
// exchanges, daily statements with their signature status, acknowledgements and disputes.
import { api, encode, readAll } from '../api.js';
import {
  append, clear, field, fill, fmt, h, notice, page, pagedTable, pill, problemNotice, section, select, stats, table,
} from '../ui.js';

export async function render(container, { role, args, go }) {
  const partnerId = args[0];
  container.append(...page('Partners', 'Partner brands, their signing keys, exchanges and daily settlement statements.'));
  const id = h('input', { name: 'partner_id', required: true, autocomplete: 'off', value: partnerId || '' });
  const open = h('form', { class: 'inline', 'aria-label': 'Open a partner' }, field('Partner id', id), h('button', { type: 'submit', text: 'Open' }));
  open.addEventListener('submit', (event) => { event.preventDefault(); if (id.value.trim()) go('partners', id.value.trim()); });
  container.append(open);
  if (role === 'admin') {
    const list = h('div');
    container.append(section('All partners', list));
    fill(list, () => readAll('/v1/partners', 1000), (items) => table([
      { label: 'Partner', value: (p) => h('a', { href: `#/partners/${encode(p.partner_id)}`, text: p.partner_id }), header: true },
      { label: 'Name', value: (p) => p.name },
      { label: 'Asset', value: (p) => p.asset },
      { label: 'Points per unit in', value: (p) => fmt.int(p.rates && p.rates.inbound_points_per_unit), numeric: true },
      { label: 'Units per 1000 points out', value: (p) => fmt.int(p.rates && p.rates.outbound_units_per_point_milli), numeric: true },
      { label: 'Rights', value: (p) => fmt.int((p.rights || []).length), numeric: true },
      { label: 'Defined by', value: (p) => fmt.text(p.source) },
    ], items, { caption: 'Partners', empty: 'No partners.' }), 'The list of partners');
  }
  if (!partnerId) return;
  if (role === 'admin') {
    const detail = h('div');
    container.append(section(`Partner ${partnerId}`, detail));
    fill(detail, () => api(`/v1/partners/${encode(partnerId)}`), (p) => [
      stats([
        ['Name', p.name], ['Asset', p.asset],
        ['Daily points per member', fmt.int(p.limits && p.limits.per_member_daily_points)],
        ['Daily points in all', fmt.int(p.limits && p.limits.per_day_points)],
        ['Cents per point', fmt.int(p.rates && p.rates.cents_per_point)],
      ]),
      table([
        { label: 'Right', value: (r) => r.code, header: true },
        { label: 'Title', value: (r) => r.title },
        { label: 'Quota', value: (r) => `${fmt.int(r.quota_per_period)} a ${r.period}` },
      ], p.rights || [], { caption: 'Rights', empty: 'No rights.' }),
    ], 'The partner');
    container.append(keysSection(partnerId));
  }
  container.append(section('Exchanges', pagedTable(`/v1/partners/${encode(partnerId)}/exchanges`, [
    { label: 'Exchange', value: (x) => x.exchange_id, header: true },
    { label: 'Direction', value: (x) => x.direction },
    { label: 'Member', value: (x) => fmt.text(x.member_id) },
    { label: 'Points', value: (x) => fmt.int(x.points), numeric: true },
    { label: 'Partner units', value: (x) => `${fmt.int(x.partner_amount)} ${x.partner_asset || ''}`.trim(), numeric: true },
    { label: 'Status', value: (x) => fmt.text(x.status) },
    { label: 'When', value: (x) => fmt.time(x.created_at) },
  ], { caption: 'Exchanges, newest first', empty: 'No exchanges.', what: 'Exchanges' })));
  container.append(section('Statements', pagedTable(`/v1/partners/${encode(partnerId)}/statements`, [
    { label: 'Date', value: (s) => s.date, header: true },
    { label: 'Status', value: (s) => pill(s.status, s.status === 'closed' ? 'ok' : 'warn') },
    // An open statement is provisional and not signed yet; a closed one must verify.
    { label: 'Signature', value: (s) => (s.status === 'open' ? pill('not signed yet (open)')
      : s.signature_ok === undefined ? '—' : pill(s.signature_ok ? 'verifies' : 'does NOT verify', s.signature_ok ? 'ok' : 'bad')) },
    { label: 'Net', value: (s) => fmt.cents(s.net_cents), numeric: true },
    { label: 'Owed by', value: (s) => fmt.text(s.owed_by) },
    { label: 'Acknowledged', value: (s) => fmt.time(s.acknowledged_at) },
    { label: 'Dispute', value: (s) => (s.dispute ? pill(s.dispute, 'bad') : '—') },
    { label: 'SHA-256', value: (s) => (s.sha256 ? `${s.sha256.slice(0, 12)}…` : '—') },
  ], { caption: 'Daily settlement statements, newest first', empty: 'No statements.', what: 'Statements' })));
}

function keysSection(partnerId) {
  const list = h('div');
  const loadKeys = () => fill(list, () => api(`/v1/partners/${encode(partnerId)}/keys`), (data) => table([
    { label: 'Key', value: (k) => k.key_id, header: true },
    { label: 'Algorithm', value: (k) => k.algorithm },
    { label: 'Created', value: (k) => fmt.time(k.created_at) },
    { label: 'Revoked', value: (k) => fmt.time(k.revoked_at) },
  ], data.items || data.keys || [], { caption: 'Keys (secrets are never shown again)', empty: 'No keys.' }), 'The list of keys');
  loadKeys();

  const algorithm = select(['hmac-sha256', 'ed25519'], { name: 'algorithm' });
  const pem = h('textarea', { name: 'public_key_pem', rows: 3, cols: 60 });
  const pemField = field('Partner\'s public key (PEM)', pem, 'for ed25519 keys');
  pemField.hidden = true;
  algorithm.addEventListener('change', () => { pemField.hidden = algorithm.value !== 'ed25519'; });
  const created = h('div', { id: 'partner-key-created' });
  const create = h('form', { 'aria-label': 'Create a partner key' },
    h('div', { class: 'row' }, field('Algorithm', algorithm), pemField, h('button', { type: 'submit', text: 'Create key' })), created);
  create.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(created);
    const body = { algorithm: algorithm.value };
    if (algorithm.value === 'ed25519') body.public_key_pem = pem.value;
    try {
      const key = await api(`/v1/partners/${encode(partnerId)}/keys`, { method: 'POST', body, headers: { 'Idempotency-Key': crypto.randomUUID() } });
      append(created, [notice('ok', `Key ${key.key_id} created.`),
        key.secret ? h('div', {}, h('p', {}, h('strong', { text: 'The shared secret, shown this once: ' }), 'give it to the partner now; it cannot be shown again.'),
          h('p', { class: 'secret', text: key.secret })) : null]);
      pem.value = '';
      loadKeys();
    } catch (error) {
      created.append(problemNotice(error, 'Creating the key'));
    }
  });

  const revokeId = h('input', { name: 'key_id', autocomplete: 'off' });
  const revoked = h('div');
  const revoke = h('form', { class: 'inline', 'aria-label': 'Revoke a partner key' }, field('Key id to revoke', revokeId),
    h('button', { type: 'submit', class: 'danger', text: 'Revoke' }));
  revoke.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(revoked);
    const keyId = revokeId.value.trim();
    if (!keyId) return;
    if (!window.confirm(`Revoke key ${keyId} of ${partnerId}? Requests signed with it are refused at once.`)) return;
    try {
      await api(`/v1/partners/${encode(partnerId)}/keys/${encode(keyId)}/revoke`, { method: 'POST', body: {} });
      revoked.append(notice('ok', `Key ${keyId} revoked.`));
      loadKeys();
    } catch (error) {
      revoked.append(problemNotice(error, 'Revoking the key'));
    }
  });
  return section('Keys', list, h('h3', { text: 'New key' }), create, h('h3', { text: 'Revoke a key' }), revoke, revoked);
}
