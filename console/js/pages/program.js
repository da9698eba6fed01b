// Program: the document in force and its versions, with a line diff between two versions.
import { api, encode, readAll } from '../api.js';
import { canonicalJson, diffLines, hunks } from '../diff.js';
import { clear, field, fill, fmt, h, notice, page, problemNotice, section, select, stats, table } from '../ui.js';

export async function render(container) {
  container.append(...page('Program', 'The program in force, its versions, and what changed between two of them.'));
  const current = h('div');
  container.append(section('In force', current));
  fill(current, () => api('/v1/program'), (program) => {
    const doc = program.document || {};
    return [
      stats([
        ['Version', fmt.text(program.version)],
        ['Applied', fmt.time(program.applied_at)],
        ['SHA-256', program.sha256 ? `${program.sha256.slice(0, 16)}…` : '—'],
        ['Rules', fmt.int((doc.rules || []).length)],
        ['Campaigns', fmt.int((doc.campaigns || []).length)],
        ['Partners', fmt.int((doc.partners || []).length)],
      ]),
      table([
        { label: 'Campaign', value: (c) => c.id, header: true },
        { label: 'From', value: (c) => fmt.time(c.window && c.window.from) },
        { label: 'To', value: (c) => fmt.time(c.window && c.window.to) },
        { label: 'Multiplier', value: (c) => (c.multiplier_pct ? `${c.multiplier_pct}%` : '—'), numeric: true },
        { label: 'Budget (points)', value: (c) => fmt.int(c.budget_points), numeric: true },
        { label: 'Funding account', value: (c) => fmt.text(c.funding_account) },
      ], doc.campaigns || [], { caption: 'Campaigns', empty: 'No campaigns.' }),
      h('details', {}, h('summary', { text: 'The whole document' }),
        h('pre', { class: 'doc', tabindex: '0', 'aria-label': 'Program document' },
          canonicalJson(doc).split('\n').map((line) => h('span', { text: line })))),
    ];
  }, 'The program');

  const versions = h('div');
  container.append(section('Versions', versions));
  try {
    const items = await readAll('/v1/program/versions', 1000);
    versions.append(table([
      { label: 'Version', value: (v) => v.version, header: true, numeric: true },
      { label: 'Applied', value: (v) => fmt.time(v.applied_at) },
      { label: 'Applied by', value: (v) => fmt.text(v.applied_by) },
      { label: 'SHA-256', value: (v) => (v.sha256 ? `${v.sha256.slice(0, 16)}…` : '—') },
    ], items, { caption: 'Versions, newest first', empty: 'No versions.' }));
    if (items.length >= 2) versions.append(diffForm(items));
  } catch (error) {
    versions.append(problemNotice(error, 'The list of program versions'));
  }
}

function diffForm(items) {
  const numbers = items.map((v) => String(v.version));
  const from = select(numbers, { name: 'from' });
  const to = select(numbers, { name: 'to' });
  from.value = numbers[1];
  to.value = numbers[0];
  const output = h('div', { id: 'program-diff' });
  const form = h('form', { class: 'inline', 'aria-label': 'Compare versions' },
    field('From version', from), field('To version', to), h('button', { type: 'submit', text: 'Compare' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(output).append(h('p', { class: 'loading', text: 'Comparing…' }));
    try {
      const [a, b] = await Promise.all([from.value, to.value].map((v) => api(`/v1/program/versions/${encode(v)}`)));
      const parts = hunks(diffLines(canonicalJson(a.document || {}), canonicalJson(b.document || {})));
      clear(output);
      if (parts.length === 0) { output.append(notice('info', `Versions ${from.value} and ${to.value} are the same document.`)); return; }
      const added = parts.reduce((n, p) => n + p.lines.filter((l) => l.kind === 'add').length, 0);
      const removed = parts.reduce((n, p) => n + p.lines.filter((l) => l.kind === 'del').length, 0);
      output.append(h('p', { text: `${added} lines added, ${removed} removed, from version ${from.value} to ${to.value}.` }),
        h('pre', { class: 'diff', tabindex: '0', 'aria-label': `Differences from version ${from.value} to ${to.value}` },
          parts.flatMap((p) => [h('span', { class: 'hunk', text: p.header }),
            ...p.lines.map((l) => h('span', { class: l.kind === 'same' ? undefined : l.kind, text: l.text }))])));
    } catch (error) {
      clear(output).append(problemNotice(error, 'Comparing versions'));
    }
  });
  return h('div', {}, h('h3', { text: 'Compare two versions' }), form, output);
}
