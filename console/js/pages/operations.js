// Operations (admin): jobs and their last runs, running one now; webhook endpoints and their
// failed deliveries; API keys: list, create (the secret is shown once), revoke.
import { api, encode, readAll, withQuery } from '../api.js';
import {
  announce, clear, field, fill, fmt, h, notice, page, pagedTable, pill, problemNotice, section, select, table,
} from '../ui.js';

const knownJobs = ['expire-holds', 'release-pending', 'expire-points', 'decay-growth', 'evaluate-tiers',
  'close-statements', 'purge-idempotency-keys', 'notify-expiring'];

export async function render(container) {
  container.append(...page('Operations', 'Background jobs, webhook endpoints and API keys.'));
  container.append(jobsSection(), webhooksSection(), keysSection());
}

function runView(run) {
  if (!run) return '—';
  const outcome = run.outcome || run.status || '';
  return h('span', {}, pill(outcome || 'unknown', /fail|error/.test(outcome) ? 'bad' : outcome === 'done' || outcome === 'ok' || outcome === 'finished' ? 'ok' : 'warn'),
    ` as of ${fmt.time(run.as_of)}`, run.finished_at ? `, finished ${fmt.time(run.finished_at)}` : '',
    run.rows !== undefined || run.items !== undefined ? `, ${fmt.int(run.rows !== undefined ? run.rows : run.items)} rows` : '',
    run.error ? ` — ${run.error}` : '');
}

function jobsSection() {
  const list = h('div');
  const runs = h('div', { id: 'job-runs' });
  const showRuns = (name) => {
    clear(runs).append(h('h3', { text: `Runs of ${name}` }), pagedTable(`/v1/jobs/${encode(name)}/runs`, [
      { label: 'As of', value: (r) => fmt.time(r.as_of), header: true },
      { label: 'Started', value: (r) => fmt.time(r.started_at) },
      { label: 'Finished', value: (r) => fmt.time(r.finished_at) },
      { label: 'Outcome', value: (r) => fmt.text(r.outcome || r.status) },
      { label: 'Rows', value: (r) => fmt.int(r.rows !== undefined ? r.rows : r.items), numeric: true },
      { label: 'Started by', value: (r) => fmt.text(r.started_by) },
      { label: 'Error', value: (r) => fmt.text(r.error), wrap: true },
    ], { caption: `Runs of ${name}, newest first`, empty: 'No runs yet.', what: 'Job runs' }));
  };
  fill(list, () => readAll('/v1/jobs', 100), (items) => table([
    { label: 'Job', value: (j) => j.name, header: true },
    { label: 'Schedule', value: (j) => fmt.text(j.schedule) },
    { label: 'Last run', value: (j) => runView(j.last_run) },
    { label: 'History', value: (j) => h('button', { type: 'button', class: 'secondary', text: 'Runs', 'aria-label': `Runs of ${j.name}`, onclick: () => showRuns(j.name) }) },
  ], items, { caption: 'Jobs', empty: 'No jobs.' }), 'The list of jobs');

  const name = select(knownJobs, { name: 'job' });
  const asOf = h('input', { type: 'datetime-local', name: 'as_of' });
  const outcome = h('div');
  const form = h('form', { class: 'inline', 'aria-label': 'Run a job now' },
    field('Job', name), field('As of (UTC, empty for now)', asOf), h('button', { type: 'submit', text: 'Run now…' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(outcome);
    const asOfValue = asOf.value ? `${asOf.value.length === 16 ? `${asOf.value}:00` : asOf.value}Z` : undefined;
    if (!window.confirm(`Run ${name.value}${asOfValue ? ` as of ${asOfValue}` : ' now'}?`)) return;
    try {
      const run = await api(`/v1/jobs/${encode(name.value)}`, { method: 'POST', body: asOfValue ? { as_of: asOfValue } : {}, headers: { 'Idempotency-Key': crypto.randomUUID() } });
      outcome.append(notice('ok', `${run.job}: ${run.status}, ${fmt.int(run.items)} items, as of ${fmt.time(run.as_of)}.`));
      announce(`${run.job} ${run.status}.`);
    } catch (error) {
      outcome.append(problemNotice(error, `Running ${name.value}`));
    }
  });
  return section('Jobs', list, runs, h('h3', { text: 'Run a job' }), form, outcome);
}

function webhooksSection() {
  const list = h('div');
  const failures = h('div', { id: 'webhook-failures' });
  const showFailures = (webhook) => {
    clear(failures).append(h('h3', { text: `Failed deliveries to ${webhook.url}` }),
      pagedTable(withQuery(`/v1/webhooks/${encode(webhook.webhook_id)}/deliveries`, { outcome: 'failed' }), [
        { label: 'Event', value: (d) => d.event_id, header: true },
        { label: 'Type', value: (d) => d.event_type },
        { label: 'Attempt', value: (d) => d.attempt, numeric: true },
        { label: 'When', value: (d) => fmt.time(d.attempted_at) },
        { label: 'Status code', value: (d) => fmt.text(d.status_code) },
        { label: 'Error', value: (d) => fmt.text(d.error), wrap: true },
        { label: 'Outcome', value: (d) => pill(d.outcome, 'bad') },
      ], { caption: 'Failed deliveries, newest first', empty: 'No failed deliveries.', what: 'Deliveries' }));
  };
  fill(list, () => readAll('/v1/webhooks', 500), (items) => table([
    { label: 'Endpoint', value: (w) => w.url, header: true, wrap: true },
    { label: 'Events', value: (w) => (w.event_types || []).join(', '), wrap: true },
    { label: 'Status', value: (w) => pill(w.status, w.status === 'enabled' ? 'ok' : 'warn') },
    { label: 'Partner', value: (w) => fmt.text(w.partner_id) },
    { label: 'Created', value: (w) => fmt.time(w.created_at) },
    { label: 'Deliveries', value: (w) => h('button', { type: 'button', class: 'secondary', text: 'Failed deliveries', 'aria-label': `Failed deliveries to ${w.url}`, onclick: () => showFailures(w) }) },
  ], items, { caption: 'Webhook endpoints', empty: 'No webhook endpoints.' }), 'Webhook endpoints');
  return section('Webhooks', list, failures);
}

function keysSection() {
  const list = h('div');
  const load = () => {
    clear(list).append(pagedTable('/v1/keys', [
      { label: 'Key', value: (k) => k.key_id, header: true },
      { label: 'Role', value: (k) => k.role },
      { label: 'Name', value: (k) => k.name },
      { label: 'Status', value: (k) => pill(k.status, k.status === 'active' ? 'ok' : 'bad') },
      { label: 'Created', value: (k) => `${fmt.time(k.created_at)}${k.created_by ? ` by ${k.created_by}` : ''}` },
      { label: 'Expires', value: (k) => fmt.time(k.expires_at) },
      { label: 'Revoked', value: (k) => (k.revoked_at ? `${fmt.time(k.revoked_at)}${k.revoked_by ? ` by ${k.revoked_by}` : ''}` : '—') },
      { label: 'Action', value: (k) => (k.status === 'active' ? revokeButton(k, load) : '—') },
    ], { caption: 'API keys, newest first', what: 'API keys' }));
  };
  load();
  const role = select(['mall', 'ingest', 'admin', 'finance'], { name: 'role' });
  const name = h('input', { name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const expires = h('input', { type: 'datetime-local', name: 'expires_at' });
  const created = h('div', { id: 'key-created' });
  const form = h('form', { class: 'inline', 'aria-label': 'Create an API key' },
    field('Role', role), field('Name', name), field('Expires (UTC, optional)', expires), h('button', { type: 'submit', text: 'Create key' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(created);
    if (!name.value.trim()) { created.append(notice('error', 'Give the key a name.')); name.focus(); return; }
    const body = { role: role.value, name: name.value.trim() };
    if (expires.value) body.expires_at = `${expires.value.length === 16 ? `${expires.value}:00` : expires.value}Z`;
    try {
      const key = await api('/v1/keys', { method: 'POST', body });
      created.append(notice('ok', `Key ${key.key_id} (${key.role}) created.`),
        h('p', {}, h('strong', { text: 'The secret, shown this once: ' }), 'copy it now; it is stored only as a hash.'),
        h('p', { class: 'secret', text: key.secret }));
      form.reset();
      load();
    } catch (error) {
      created.append(problemNotice(error, 'Creating the key'));
    }
  });
  return section('API keys', list, h('h3', { text: 'New key' }), form, created);
}

function revokeButton(key, reload) {
  const button = h('button', { type: 'button', class: 'danger', text: 'Revoke', 'aria-label': `Revoke ${key.key_id} (${key.name})` });
  button.addEventListener('click', async () => {
    if (!window.confirm(`Revoke ${key.key_id} (${key.name})? Every request with it is refused within 5 seconds.`)) return;
    button.disabled = true;
    try {
      await api(`/v1/keys/${encode(key.key_id)}/revoke`, { method: 'POST', body: { reason: 'revoked in the console' } });
      reload();
    } catch (error) {
      button.after(problemNotice(error, 'Revoking'));
      button.disabled = false;
    }
  });
  return button;
}
