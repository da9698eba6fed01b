// Browser test of the console: Debian's chromium (never a downloaded browser) driven by
// puppeteer-core against a running loyaltyd. Run by tests/pg/console_browser_pgtest.cpp,
// which starts the service, makes the keys and data, and passes them in the environment:
//   CONSOLE_BASE_URL   http://127.0.0.1:PORT
//   ADMIN_KEY, FINANCE_KEY, MALL_KEY
//   MEMBER_ID, MEMBER_EXTERNAL_ID   a member with points
//   SCREENSHOT_DIR     where a 1280×800 screenshot of every page is written
//   CHROMIUM           the browser (default /usr/bin/chromium)
// Every page is checked with axe-core (serious and critical violations fail), and any
// Content-Security-Policy report or script error on a page fails the run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { canonicalJson, diffLines, hunks } from '../../console/js/diff.js';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (tests/pg/console_browser_pgtest.cpp sets it)`);
  return value;
};
const base = env('CONSOLE_BASE_URL');
const keys = { admin: env('ADMIN_KEY'), finance: env('FINANCE_KEY'), mall: env('MALL_KEY') };
const memberId = env('MEMBER_ID');
const externalId = env('MEMBER_EXTERNAL_ID');
const screenshots = env('SCREENSHOT_DIR');
mkdirSync(screenshots, { recursive: true });

let browser;
let page;
const pageProblems = [];

before(async () => {
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--lang=en-US'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.on('pageerror', (error) => pageProblems.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/.test(message.text())) pageProblems.push(`CSP: ${message.text()}`);
  });
  page.on('dialog', (dialog) => dialog.accept());
});

after(async () => {
  if (browser) await browser.close();
});

function noPageProblems() {
  const found = pageProblems.splice(0);
  assert.deepEqual(found, [], 'the page reported script errors or policy violations');
}

// Waits until no "Loading…" line is left on the page (every section answered or failed).
async function settled() {
  await page.waitForFunction(() => document.querySelectorAll('.loading').length === 0, { timeout: 20000 });
}

async function open(hash) {
  await page.goto(`${base}/console/${hash}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('main h1');
  await settled();
}

async function checkAccessibility(name) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`), [],
    `axe-core found serious or critical problems on ${name}`);
}

async function shoot(name) {
  await page.screenshot({ path: path.join(screenshots, `${name}.png`) });
}

async function signIn(role) {
  await page.goto(`${base}/console/`, { waitUntil: 'networkidle0' });
  if (await page.$('#sign-out:not([hidden])') && await page.$eval('#who', (e) => !e.hidden)) {
    await page.click('#sign-out');
  }
  await page.waitForSelector('#api-key');
  await page.type('#api-key', keys[role]);
  await page.keyboard.press('Enter');
  await page.waitForSelector('nav#nav:not([hidden]) a');
  await settled();
}

async function text(selector) {
  return page.$eval(selector, (element) => element.textContent);
}

test('the sign-in page is reachable by keyboard and accessible', async () => {
  await page.goto(`${base}/console/`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#api-key');
  // Focus starts on the key field; from the top of the page Tab reaches it again.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.evaluate(() => window.scrollTo(0, 0));
  let reached = false;
  for (let i = 0; i < 6 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'api-key');
  }
  assert.ok(reached, 'Tab reaches the API key field');
  const label = await page.$eval('label[for="api-key"]', (l) => l.textContent);
  assert.equal(label, 'API key');
  await checkAccessibility('sign-in');
  await shoot('sign-in');
  noPageProblems();
});

test('a wrong key is refused with the API\'s reason', async () => {
  await page.goto(`${base}/console/`, { waitUntil: 'networkidle0' });
  await page.type('#api-key', 'key_wrong.not-a-real-secret-at-all');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#sign-in-error .notice.error');
  const message = await text('#sign-in-error');
  assert.match(message, /refused/i);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing is kept for a refused key');
  assert.equal(await page.$eval('#nav', (n) => n.hidden), true);
  await checkAccessibility('sign-in refused');
  await shoot('sign-in-refused');
  noPageProblems();
});

test('an admin signs in; the key stays in this tab\'s sessionStorage only; Tab reaches every nav link', async () => {
  await signIn('admin');
  assert.equal(await text('#who-role'), 'Administrator');
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.ok(await page.evaluate(() => Object.keys(sessionStorage).some((k) => k.includes('key'))));
  const links = await page.$$eval('nav#nav a', (all) => all.map((a) => a.getAttribute('href')));
  assert.ok(links.includes('#/adjustments') && links.includes('#/operations'), `admin sees its pages: ${links}`);
  assert.ok(!links.includes('#/finance'), 'finance\'s reports are not an admin\'s');
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const seen = new Set();
  for (let i = 0; i < 25 && seen.size < links.length; i++) {
    await page.keyboard.press('Tab');
    const href = await page.evaluate(() => (document.activeElement && document.activeElement.closest('nav') ? document.activeElement.getAttribute('href') : null));
    if (href) seen.add(href);
  }
  assert.deepEqual([...seen].sort(), [...links].sort(), 'Tab reaches every navigation link');
  // Focus is visible: the focused link has an outline.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  noPageProblems();
});

test('a member is found by external id and shown with balances, tiers and statement', async () => {
  await open('#/member');
  const lookupAvailable = (await fetch(`${base}/v1/members?external_id=${encodeURIComponent(externalId)}`,
    { headers: { Authorization: `Bearer ${keys.admin}` } })).status === 200;
  await page.type('#lookup-value', externalId);
  await page.keyboard.press('Enter');
  if (lookupAvailable) {
    await page.waitForFunction((id) => location.hash === `#/member/${id}`, { timeout: 10000 }, memberId);
  } else {
    // A server without the look-up route says so instead of breaking; the member id still works.
    await page.waitForSelector('#lookup-result .notice.unavailable');
    assert.match(await text('#lookup-result'), /Not available/);
    await page.select('#lookup-kind', 'member_id');
    await page.$eval('#lookup-value', (input) => { input.value = ''; });
    await page.type('#lookup-value', memberId);
    await page.keyboard.press('Enter');
    await page.waitForFunction((id) => location.hash === `#/member/${id}`, { timeout: 10000 }, memberId);
  }
  await page.waitForSelector('#member-detail');
  await settled();
  const detail = await text('#member-detail');
  assert.match(detail, new RegExp(externalId));
  assert.match(detail, /Balances by asset/);
  assert.match(detail, /Spend track/);
  assert.match(detail, /Statement, newest first/);
  await checkAccessibility('member');
  await shoot('member');
  noPageProblems();
});

async function availablePoints() {
  const response = await fetch(`${base}/v1/members/${memberId}/balances`, { headers: { Authorization: `Bearer ${keys.admin}` } });
  return (await response.json()).balances.POINTS.available;
}

test('an adjustment is confirmed with the balance before and after, and the balance changes', async () => {
  const before = await availablePoints();
  await open(`#/adjustments/${memberId}`);
  await checkAccessibility('adjustments');
  await page.type('input[name="amount"]', '250');
  await page.select('select[name="reason_code"]', 'goodwill');
  await page.type('textarea[name="note"]', 'console browser test');
  await page.click('form[aria-label="New adjustment"] button[type="submit"]');
  await page.waitForSelector('#adjustment-review .confirm');
  const review = await text('#adjustment-review');
  assert.match(review, new RegExp(`Available before${before.toLocaleString('en-US')}`));
  assert.match(review, new RegExp(`Available after${(before + 250).toLocaleString('en-US')}`));
  await checkAccessibility('adjustment confirmation');
  await shoot('adjustments');
  await page.click('#adjustment-review .confirm button');
  await page.waitForSelector('#adjustment-outcome .notice');
  const outcome = await text('#adjustment-outcome');
  assert.match(outcome, new RegExp(`now ${(before + 250).toLocaleString('en-US')}`), outcome);
  assert.equal(await availablePoints(), before + 250);
  // The member page shows the new balance.
  await open(`#/member/${memberId}`);
  const balances = await page.$$eval('#member-detail table', (tables) => tables[0].textContent);
  assert.match(balances, new RegExp((before + 250).toLocaleString('en-US')));
  noPageProblems();
});

test('an admin erases the member\'s personal data after typing the member id', async () => {
  await open(`#/member/${memberId}`);
  const erase = await page.$$('#member-detail button.danger');
  assert.equal(erase.length, 1);
  await erase[0].click();
  await page.waitForSelector('form[aria-label="Confirm erasure"] input');
  await page.type('form[aria-label="Confirm erasure"] input', 'not-the-id');
  await page.click('form[aria-label="Confirm erasure"] button[type="submit"]');
  await page.waitForSelector('form[aria-label="Confirm erasure"] .notice.error');
  assert.match(await text('form[aria-label="Confirm erasure"]'), /does not match; nothing was erased/);
  await page.$eval('form[aria-label="Confirm erasure"] input', (input) => { input.value = ''; });
  await page.type('form[aria-label="Confirm erasure"] input', memberId);
  await page.click('form[aria-label="Confirm erasure"] button[type="submit"]');
  await page.waitForSelector('form[aria-label="Confirm erasure"] .notice.ok');
  assert.match(await text('form[aria-label="Confirm erasure"] .notice.ok'), /Erased display_name/);
  await checkAccessibility('erasure');
  noPageProblems();
});

test('the admin pages render and are accessible: program, partners, operations, audit, API reference', async () => {
  for (const [hash, name] of [['#/program', 'program'], ['#/partners/skyair', 'partners'], ['#/operations', 'operations'], ['#/reference', 'reference']]) {
    await open(hash);
    if (name === 'program') assert.match(await text('main'), /Campaigns/);
    if (name === 'partners') assert.match(await text('main'), /SkyAir/);
    await checkAccessibility(name);
    await shoot(name);
  }
  noPageProblems();
});

test('a new secret is shown once: a partner\'s hmac key and an API key', async () => {
  await open('#/partners/skyair');
  await page.click('form[aria-label="Create a partner key"] button[type="submit"]');
  await page.waitForSelector('#partner-key-created .secret');
  assert.match(await text('#partner-key-created .secret'), /^[A-Za-z0-9+/]{43}=$/, 'a 32-byte secret in base64');
  await open('#/operations');
  await page.type('form[aria-label="Create an API key"] input[name="name"]', 'console-made');
  await page.select('form[aria-label="Create an API key"] select[name="role"]', 'finance');
  await page.click('form[aria-label="Create an API key"] button[type="submit"]');
  await page.waitForSelector('#key-created .secret');
  assert.match(await text('#key-created .secret'), /^key_[a-z0-9]+\./);
  await settled();
  assert.match(await text('main'), /console-made/, 'the new key is listed');
  // Coming back to the page shows no secret any more.
  await open('#/program');
  await open('#/operations');
  assert.equal(await page.$('.secret'), null);
  noPageProblems();
});

test('the version diff shows what changed, line by line, in hunks', () => {
  const before = canonicalJson({ campaigns: [{ id: 'double-eleven', budget_points: 50000000 }], expiry: { months: 24 }, name: 'x' });
  const after = canonicalJson({ campaigns: [{ id: 'double-eleven', budget_points: 60000000 }], expiry: { months: 24 }, name: 'x' });
  const ops = diffLines(before, after);
  assert.deepEqual(ops.filter((op) => op.kind !== 'same').map((op) => `${op.kind} ${op.line.trim()}`),
    ['del "budget_points": 50000000,', 'add "budget_points": 60000000,']);
  const parts = hunks(ops);
  assert.equal(parts.length, 1);
  assert.match(parts[0].header, /^@@ -\d+,\d+ \+\d+,\d+ @@$/);
  assert.deepEqual(hunks(diffLines(before, before)), []);
  assert.deepEqual(diffLines('a\nb', 'b\nc').map((op) => op.kind), ['del', 'same', 'add']);
});

test('the API reference renders the OpenAPI description, or says it is not available', async () => {
  await open('#/reference');
  const available = (await fetch(`${base}/openapi.json`)).status === 200;
  if (available) {
    // The document is fetched after the page's heading is drawn (and a busy machine may take
    // a while to answer): wait for the operations themselves.
    await page.waitForSelector('details.endpoint summary', { timeout: 20000 });
    await page.click('details.endpoint summary');
    assert.ok(await page.$('details.endpoint[open] table'), 'an operation opens on its parameters or answers');
    assert.match(await text('main'), /Schemas \(\d+\)/);
  } else {
    assert.match(await text('main'), /Not available/);
  }
  await checkAccessibility('reference (opened)');
  noPageProblems();
});

test('the audit chain verifies from the console', async () => {
  await open('#/audit');
  await page.click('#verify-chain');
  await page.waitForSelector('#verify-result .notice');
  assert.match(await text('#verify-result'), /verifies/);
  await page.waitForSelector('#verify-result .notice.ok');
  await settled();
  await checkAccessibility('audit');
  await shoot('audit');
  noPageProblems();
});

test('finance sees the reports with their charts drawn as SVG', async () => {
  await signIn('finance');
  assert.equal(await text('#who-role'), 'Finance');
  const links = await page.$$eval('nav#nav a', (all) => all.map((a) => a.getAttribute('href')));
  assert.ok(links.includes('#/finance') && !links.includes('#/adjustments') && !links.includes('#/operations'));
  await open('#/finance');
  await shoot('finance');
  const charts = await page.$$eval('figure.chart svg', (all) => all.map((svg) => ({
    title: svg.querySelector('title').textContent,
    rects: svg.querySelectorAll('rect').length,
    lines: svg.querySelectorAll('polyline').length,
    budgets: svg.querySelectorAll('line.budget').length,
  })));
  const byTitle = Object.fromEntries(charts.map((c) => [c.title, c]));
  const liability = byTitle['Outstanding points by expiry month'];
  assert.ok(liability && liability.rects > 0, `the liability chart has bars: ${JSON.stringify(charts)}`);
  const campaigns = byTitle['Campaign cost against budget'];
  assert.ok(campaigns && campaigns.rects > 0 && campaigns.budgets > 0, `the campaign chart has bars and a budget line: ${JSON.stringify(charts)}`);
  const dailyAvailable = (await fetch(`${base}/v1/reports/daily?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`,
    { headers: { Authorization: `Bearer ${keys.finance}` } })).status === 200;
  if (dailyAvailable) {
    const daily = byTitle['Points issued and redeemed per day'];
    assert.ok(daily && daily.lines >= 2, `the daily chart has lines: ${JSON.stringify(charts)}`);
  } else {
    assert.match(await text('main'), /Not available/, 'a server without the daily report says so');
  }
  assert.match(await text('main'), /Trial balance/);
  assert.match(await text('main'), /every asset sums to zero/);
  await checkAccessibility('finance');
  noPageProblems();
});

test('finance creates an export and sees its files, manifest.sig included', async () => {
  await open('#/audit');
  await page.click('form[aria-label="New export"] button[type="submit"]');
  await page.waitForSelector('#export-created .notice');
  await page.waitForFunction(() => /manifest\.sig/.test(document.querySelector('#export-created').textContent)
    || document.querySelector('#export-created .notice.error'), { timeout: 60000 });
  const created = await text('#export-created');
  assert.match(created, /manifest\.json/);
  assert.match(created, /Download manifest\.sig/);
  // The download goes through the API with the key (a plain link could not send it) and
  // lands as a file named after the export.
  const downloads = path.join(screenshots, 'downloads');
  mkdirSync(downloads, { recursive: true });
  const cdp = await browser.target().createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  const buttons = await page.$$('#export-created button');
  let clicked = false;
  for (const button of buttons) {
    if ((await button.evaluate((b) => b.textContent)) === 'Download manifest.sig') { await button.click(); clicked = true; break; }
  }
  assert.ok(clicked, 'there is a button for manifest.sig');
  const deadline = Date.now() + 15000;
  let signature = null;
  while (!signature && Date.now() < deadline) {
    signature = readdirSync(downloads).find((name) => name.endsWith('-manifest.sig'));
    if (!signature) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(signature && existsSync(path.join(downloads, signature)), 'manifest.sig was downloaded');
  assert.match(readFileSync(path.join(downloads, signature), 'utf8').trim(), /^[A-Za-z0-9+/]+=*$/, 'manifest.sig is base64');
  await settled();
  await checkAccessibility('audit and exports');
  await shoot('audit-exports');
  noPageProblems();
});

test('a mall key sees members only, read-only', async () => {
  await signIn('mall');
  const links = await page.$$eval('nav#nav a', (all) => all.map((a) => a.getAttribute('href')));
  assert.deepEqual(links, ['#/member', '#/reference']);
  await open(`#/member/${memberId}`);
  assert.equal(await page.$('#member-detail button.danger'), null, 'no erasure for the mall');
  await checkAccessibility('member (mall)');
  await shoot('member-mall');
  await page.click('#sign-out');
  await page.waitForSelector('#api-key');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'signing out forgets the key');
  noPageProblems();
});
