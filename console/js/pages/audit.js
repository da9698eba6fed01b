// Audit and exports: the audit trail with filters and paging, the seal chain's verification,
// and (finance) signed exports: create one, follow it, download its files and manifest.sig.
import { api, encode, withQuery } from '../api.js';
import {
  announce, append, clear, download, field, fmt, h, isoDay, notice, page, pagedTable, pill, problemNotice, section, stats, table,
} from '../ui.js';

export async function render(container, { role, args }) {
  container.append(...page('Audit and exports', 'Who did what and when, proof that nothing was changed since, and signed exports for the auditors.'));
  container.append(verifySection());
  if (role === 'finance') container.append(exportsSection(args[0]));
  else container.append(section('Exports', pagedExports(false)));
  container.append(trailSection());
}

function verifySection() {
  const run = h('button', { type: 'button', id: 'verify-chain', text: 'Verify the seal chain' });
  const result = h('div', { id: 'verify-result', 'aria-live': 'polite' });
  run.addEventListener('click', async () => {
    run.disabled = true;
    clear(result).append(h('p', { class: 'loading', text: 'Recomputing every sealed record…' }));
    try {
      const v = await api('/v1/audit/verify');
      append(clear(result), [
        notice(v.ok ? 'ok' : 'error', v.ok ? 'The audit chain verifies: no sealed record was changed, removed or reordered.'
          : 'The audit chain does NOT verify.'),
        stats([
          ['Records checked', fmt.int(v.records_checked)],
          ['Checked through', fmt.int(v.checked_through)],
          ['Head', v.head ? `${v.head.slice(0, 20)}…` : '—'],
        ]),
        v.first_mismatch ? table([
          { label: 'Sequence', value: (m) => m.seq, header: true },
          { label: 'Record', value: (m) => `${m.record_kind} ${m.record_id}` },
          { label: 'Problem', value: (m) => m.problem },
        ], [v.first_mismatch], { caption: 'First broken record' }) : null]);
      announce(v.ok ? 'The audit chain verifies.' : 'The audit chain does not verify.');
    } catch (error) {
      clear(result).append(problemNotice(error, 'Verification'));
    } finally {
      run.disabled = false;
    }
  });
  return section('Seal verification', h('p', { class: 'muted', text: 'Every entry and audit event is sealed into one SHA-256 chain about a second after it commits. Verification recomputes the chain from the stored rows.' }), run, result);
}

// "api_key dev-admin", "operator alice", "job:expire-holds" (a name that says its kind already).
function actorOf(event) {
  const name = event.actor_name || event.actor_id || '';
  if (!event.actor_kind || name.startsWith(`${event.actor_kind}:`)) return name || '—';
  return `${event.actor_kind} ${name}`.trim();
}

function trailSection() {
  const from = h('input', { type: 'datetime-local', name: 'from' });
  const to = h('input', { type: 'datetime-local', name: 'to' });
  const actor = h('input', { name: 'actor', autocomplete: 'off', placeholder: 'key_… or job:…' });
  const action = h('input', { name: 'action', autocomplete: 'off', placeholder: 'POST /v1/adjustments' });
  const list = h('div');
  const utc = (local) => (local ? `${local.length === 16 ? `${local}:00` : local}Z` : undefined);
  const load = () => {
    clear(list).append(pagedTable(withQuery('/v1/audit/events', { from: utc(from.value), to: utc(to.value), actor: actor.value.trim(), action: action.value.trim() }), [
      { label: 'When', value: (e) => fmt.time(e.occurred_at) },
      { label: 'Who', value: (e) => actorOf(e) },
      { label: 'Action', value: (e) => e.action },
      { label: 'Subject', value: (e) => fmt.text(e.subject), wrap: true },
      { label: 'Result', value: (e) => pill(e.result, e.result === 'ok' || e.result === 'success' ? 'ok' : '') },
      { label: 'From', value: (e) => fmt.text(e.source_address) },
      { label: 'Request', value: (e) => fmt.text(e.request_id), wrap: true },
      { label: 'Details', value: (e) => (e.details && e.details !== '{}' ? h('code', { text: e.details.length > 160 ? `${e.details.slice(0, 160)}…` : e.details }) : '—'), wrap: true },
    ], { caption: 'Audit events, oldest first', empty: 'No audit events match.', what: 'The audit trail' }));
  };
  const form = h('form', { class: 'inline', 'aria-label': 'Filter the audit trail' },
    field('From (UTC)', from), field('To (UTC)', to), field('Actor', actor), field('Action', action),
    h('button', { type: 'submit', text: 'Filter' }));
  form.addEventListener('submit', (event) => { event.preventDefault(); load(); });
  load();
  return section('Audit trail', form, list);
}

function pagedExports(canOpen) {
  return pagedTable('/v1/exports', [
    { label: 'Export', value: (x) => (canOpen ? h('a', { href: `#/audit/${encode(x.export_id)}`, text: x.export_id }) : x.export_id), header: true },
    { label: 'Status', value: (x) => pill(x.status, x.status === 'done' ? 'ok' : x.status === 'failed' ? 'bad' : 'warn') },
    { label: 'From', value: (x) => fmt.time(x.from) },
    { label: 'To', value: (x) => fmt.time(x.to) },
    { label: 'Formats', value: (x) => (x.formats || []).join(', ') },
    { label: 'Created', value: (x) => fmt.time(x.created_at) },
  ], { caption: 'Exports, newest first', empty: 'No exports yet.', what: 'The list of exports' });
}

function exportsSection(openId) {
  const from = h('input', { type: 'date', name: 'export-from', value: isoDay(-1), required: true });
  const to = h('input', { type: 'date', name: 'export-to', value: isoDay(1), required: true });
  const formats = ['csv', 'jsonl', 'ledger'].map((format) => h('input', { type: 'checkbox', name: 'format', value: format, checked: true, id: `format-${format}` }));
  const created = h('div', { id: 'export-created' });
  const form = h('form', { 'aria-label': 'New export' },
    h('div', { class: 'row' }, field('From (UTC day)', from), field('To (UTC day, exclusive)', to),
      h('fieldset', { class: 'row' }, h('legend', { text: 'Formats' }),
        formats.map((box) => h('label', { for: box.id }, box, ` ${box.value}`))),
      h('button', { type: 'submit', text: 'Create export' })), created);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(created);
    const chosen = formats.filter((box) => box.checked).map((box) => box.value);
    try {
      const x = await api('/v1/exports', {
        method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() },
        body: { from: `${from.value}T00:00:00Z`, to: `${to.value}T00:00:00Z`, formats: chosen },
      });
      created.append(notice('ok', `Export ${x.export_id} started.`));
      created.append(exportDetail(x.export_id));
    } catch (error) {
      created.append(problemNotice(error, 'The export was refused'));
    }
  });
  const opened = openId ? exportDetail(openId) : null;
  return section('Exports', form, opened, h('h3', { text: 'Earlier exports' }), pagedExports(true));
}

// One export: its status (followed until it is done) and its files, each downloadable.
function exportDetail(exportId) {
  const holder = h('div', { class: 'export', 'data-export': exportId });
  let tries = 0;
  const refresh = async () => {
    try {
      const x = await api(`/v1/exports/${encode(exportId)}`);
      clear(holder).append(h('h3', { text: `Export ${x.export_id}` }),
        h('p', {}, pill(x.status, x.status === 'done' ? 'ok' : x.status === 'failed' ? 'bad' : 'warn'),
          ` ${fmt.time(x.from)} to ${fmt.time(x.to)}`, x.error ? ` — ${x.error}` : ''));
      if (x.status === 'running' && tries++ < 120) { setTimeout(refresh, 1000); return; }
      const files = x.files || [];
      holder.append(table([
        { label: 'File', value: (f) => f.name, header: true },
        { label: 'Bytes', value: (f) => fmt.int(f.bytes), numeric: true },
        { label: 'SHA-256', value: (f) => h('code', { text: f.sha256 ? `${f.sha256.slice(0, 16)}…` : '—' }) },
        { label: 'Download', value: (f) => downloadButton(exportId, f.name) },
      ], files, { caption: 'Files', empty: 'No files.' }));
      if (files.length && !files.some((f) => f.name === 'manifest.sig')) {
        holder.append(h('p', {}, 'Signature: ', downloadButton(exportId, 'manifest.sig')));
      }
    } catch (error) {
      clear(holder).append(problemNotice(error, `Export ${exportId}`));
    }
  };
  refresh();
  return holder;
}

function downloadButton(exportId, name) {
  const button = h('button', { type: 'button', class: 'secondary', text: `Download ${name}` });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await download(`/v1/exports/${encode(exportId)}/files/${encode(name)}`, `${exportId}-${name}`);
    } catch (error) {
      button.after(problemNotice(error, `Downloading ${name}`));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
