// Adjustments (admin): a manual credit or debit with a reason code, confirmed after seeing the
// balance before and after, and sent with an Idempotency-Key made once per submission (a
// retry of the same submission cannot move points twice).
import { api, encode } from '../api.js';
import { announce, clear, field, fmt, h, notice, page, problemNotice, section, select, table } from '../ui.js';

const reasonCodes = ['goodwill', 'service_recovery', 'correction', 'migration', 'promotion', 'fraud', 'chargeback', 'other'];

export async function render(container, { args }) {
  container.append(...page('Adjustments', 'Credit or debit a member by hand. Every adjustment needs a reason, is confirmed before it is sent, and is audited.'));
  const memberId = h('input', { name: 'member_id', required: true, autocomplete: 'off', size: 34, value: args[0] || '' });
  const asset = select(['POINTS', 'GROWTH'], { name: 'asset' });
  const direction = select([['credit', 'Credit (add)'], ['debit', 'Debit (take away)']], { name: 'direction' });
  const amount = h('input', { name: 'amount', type: 'number', min: 1, step: 1, required: true, inputmode: 'numeric' });
  const reason = select(reasonCodes, { name: 'reason_code' });
  const note = h('textarea', { name: 'note', rows: 2, cols: 50, maxlength: 500 });
  const problems = h('div');
  const review = h('div', { id: 'adjustment-review' });
  const form = h('form', { 'aria-label': 'New adjustment', novalidate: true },
    h('div', { class: 'row' }, field('Member id', memberId), field('Asset', asset), field('Direction', direction),
      field('Amount', amount, 'whole points')),
    h('div', { class: 'row' }, field('Reason code', reason), field('Note', note, 'required when the reason is “other”')),
    problems, h('div', { class: 'row' }, h('button', { type: 'submit', text: 'Review…' })));
  container.append(section('New adjustment', form, review));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(problems);
    clear(review);
    const errors = [];
    const member = memberId.value.trim();
    const points = amount.value.trim();
    if (!member) errors.push('Enter the member id.');
    if (!/^[1-9][0-9]{0,17}$/.test(points)) errors.push('The amount must be a whole number above zero.');
    if (reason.value === 'other' && !note.value.trim()) errors.push('A note is required when the reason is “other”.');
    if (errors.length) {
      problems.append(notice('error', h('ul', {}, errors.map((e) => h('li', { text: e })))));
      return;
    }
    const signed = direction.value === 'debit' ? `-${points}` : points;
    let before;
    try {
      const balances = await api(`/v1/members/${encode(member)}/balances`);
      before = (balances.balances && balances.balances[asset.value]) || { available: 0 };
    } catch (error) {
      problems.append(problemNotice(error, 'Reading the member\'s balance'));
      return;
    }
    const beforeAvailable = Number(before.available || 0);
    const afterAvailable = beforeAvailable + Number(signed);
    const request = { member_id: member, asset: asset.value, amount: signed, reason_code: reason.value };
    if (note.value.trim()) request.note = note.value.trim();
    // One key per reviewed submission: pressing "Confirm" twice, or again after a lost answer,
    // replays the first answer instead of adjusting twice.
    const idempotencyKey = crypto.randomUUID();
    const confirm = h('button', { type: 'button', text: 'Confirm adjustment' });
    const back = h('button', { type: 'button', class: 'secondary', text: 'Change it' });
    const outcome = h('div', { id: 'adjustment-outcome' });
    const box = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': 'adjustment-confirm-title' },
      h('h3', { id: 'adjustment-confirm-title', text: 'Confirm this adjustment' }),
      table([
        { label: 'What', value: (r) => r[0], header: true },
        { label: 'Value', value: (r) => r[1] },
      ], [
        ['Member', member],
        ['Asset', asset.value],
        ['Amount', fmt.signed(signed)],
        ['Reason', reason.value],
        ['Note', note.value.trim() || '—'],
        ['Available before', fmt.int(beforeAvailable)],
        ['Available after', fmt.int(afterAvailable)],
      ], { caption: 'Balance before and after' }),
      afterAvailable < 0 ? notice('error', 'This debit is more than the member has available: the service will refuse it.') : null,
      h('div', { class: 'row' }, confirm, back), outcome);
    review.append(box);
    confirm.focus();
    back.addEventListener('click', () => { clear(review); amount.focus(); });
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      clear(outcome);
      try {
        const result = await api('/v1/adjustments', { method: 'POST', body: request, headers: { 'Idempotency-Key': idempotencyKey } });
        outcome.append(notice('ok', `Adjustment recorded (entry ${result.entry_id}). Available ${asset.value} is now ${fmt.int(result.available_after)}.`,
          ' ', h('a', { href: `#/member/${encode(member)}`, text: 'Open the member' })));
        announce(`Adjustment recorded; available is now ${fmt.int(result.available_after)}.`);
        back.hidden = true;
        confirm.hidden = true;
        form.reset();
      } catch (error) {
        outcome.append(problemNotice(error, 'The adjustment was refused'));
        confirm.disabled = false;
      }
    });
  });
}
