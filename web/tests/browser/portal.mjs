// The member portal in a real browser: Debian's Chromium, headless, driven by playwright-core, every page checked by
// axe-core. Run by node/tests/browser.rs against a real `dims run` whose members log in at a real oidc-provider
// (fixtures/oidc/provider.mjs, through its development login and consent pages); the Rust test publishes the bundles
// and starts everything, this script only browses.
//
// Usage: node web/tests/browser/portal.mjs --base URL --member LOGIN --outsider LOGIN --out DIR
//
//   --base URL         the portal, e.g. http://127.0.0.1:PORT
//   --member LOGIN     a provider login of the node's org, a publisher and node admin (it must see an org-only
//                      AMBER bundle and a SITREP)
//   --outsider LOGIN   a provider login of another org (it must not see that AMBER bundle)
//   --out DIR          where the screenshots go (made if missing)
//
// For each size (laptop 1366×768, phone 390×844) and for the laptop in dark mode (prefers-color-scheme), in a fresh
// browser context: the login page, the provider's pages, the dashboard, the bundle index after a triage bulk action,
// the index filtered by TLP through its form, the index of every status (a retracted bundle among them), the AMBER
// bundle (its TLP banner must be the first thing in <main>), the SITREP, the "Not found" page of an absent id, a
// search by value and the export of what it found (a STIX download), a publish preview (an incident report for the
// federation, the node's redacting bridge's copy beside it; nothing is stored until Publish), that bundle published
// and then retracted from its page (the author's Update and Retract), the directory, a member's card, the member's
// own profile, the trust groups, the federation page, the API tokens (one made through the form), and node
// administration with its audit log (the member is a node admin). Every page gets an
// axe-core run and a full-page screenshot (in dark mode only the dashboard and the bundle), and none may scroll
// sideways. Each context ends by logging out. Then the outsider, in a context that enforces the portal's CSP, must
// get for the member's AMBER bundle the very page an absent id gets, with nothing refused by the CSP and none of the
// portal's resources failing to load.
//
// Exit 0 and one JSON line `{"ok":true,...}` on stdout when every check passes; otherwise exit 1, the failures (with
// every serious or critical axe violation, its rule, help text and the elements) on stderr, and `{"ok":false,...}`.

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    member: { type: 'string' },
    outsider: { type: 'string' },
    out: { type: 'string' },
  },
});
if (!args.base || !args.member || !args.outsider || !args.out) {
  process.stderr.write('usage: node portal.mjs --base URL --member LOGIN --outsider LOGIN --out DIR\n');
  process.exit(2);
}
const base = args.base.replace(/\/$/, '');
mkdirSync(args.out, { recursive: true });

const SIZES = {
  laptop: { width: 1366, height: 768 },
  phone: { width: 390, height: 844 },
};
// The Chromium that scripts/setup installs from Debian; playwright-core brings no browser of its own.
const EXECUTABLE = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// An absent bundle id: for the member's AMBER bundle the outsider must get this id's page (status, title, content).
const ABSENT = '0'.repeat(64);

const failures = [];
const pages = [];
const started = Date.now();

function fail(message) {
  failures.push(message);
  process.stderr.write(`FAIL ${message}\n`);
}

function check(condition, message) {
  if (!condition) {
    fail(message);
  }
  return condition;
}

// axe-core on the page as it is now. Its script is added to the page, which the portal's CSP (`script-src 'self'`)
// forbids: the contexts that run axe are made with Playwright's `bypassCSP: true` for that reason alone. The portal
// itself has no script; the outsider's context below keeps the CSP on.
async function audit(page, label) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const run = await axe.run(document, { resultTypes: ['violations', 'incomplete'] });
    return {
      violations: run.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`.replace(/\s+/g, ' ')),
      })),
      // What axe could not decide by itself (a colour over an image, say): listed for a person to look at.
      review: run.incomplete.map((v) => `${v.id} (${v.nodes.length})`),
    };
  });
  const counts = { critical: 0, serious: 0, moderate: 0, minor: 0 };
  for (const violation of result.violations) {
    counts[violation.impact] = (counts[violation.impact] ?? 0) + 1;
    const line = `${label}: axe ${violation.impact} ${violation.id} (${violation.help})\n    ${violation.nodes.join('\n    ')}`;
    if (violation.impact === 'serious' || violation.impact === 'critical') {
      fail(line);
    } else {
      process.stderr.write(`note ${line}\n`);
    }
  }
  return { counts, review: result.review };
}

// A checked page: no sideways scrolling, a screenshot (when `shot`), axe.
async function visit(page, context, name, { shot = true } = {}) {
  const label = `${name} (${context.label})`;
  await page.waitForLoadState('load');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${label}: the page scrolls sideways by ${overflow}px at ${context.size.width}px wide`);
  const main = await page.locator('main').count();
  check(main === 1, `${label}: ${main} <main> elements`);
  let file = null;
  if (shot) {
    file = `${name}-${context.label}.png`;
    await page.screenshot({ path: join(args.out, file), fullPage: true });
  }
  const axe = await audit(page, label);
  const url = new URL(page.url());
  pages.push({
    page: name,
    view: context.label,
    url: url.pathname + url.search,
    screenshot: file,
    axe: axe.counts,
    review: axe.review,
  });
}

// From the portal's login page through the provider's login and consent forms back to the dashboard.
async function logIn(page, login) {
  await page.getByRole('link', { name: /log in with your community account/i }).click();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password will do');
  await page.locator('button[type="submit"]').click();
  await page.waitForSelector('input[name="prompt"][value="consent"]', { state: 'attached' });
  await page.locator('button[type="submit"]').click();
  await page.waitForURL(`${base}/`);
}

// Whether <main> opens with the TLP banner, and its text with `expected`.
async function bannerFirst(page, label, expected) {
  const first = await page.evaluate(() => {
    const main = document.querySelector('main');
    const child = main?.firstElementChild;
    return { isBanner: child?.classList.contains('banner') ?? false, text: main?.innerText.trim() ?? '' };
  });
  check(
    first.isBanner && first.text.startsWith(expected),
    `${label}: <main> does not open with the ${expected} banner: ${JSON.stringify(first.text.slice(0, 80))}`,
  );
}

async function memberTour(browser, context) {
  const ctx = await browser.newContext({
    viewport: context.size,
    colorScheme: context.scheme,
    bypassCSP: true,
  });
  ctx.setDefaultTimeout(30_000);
  const page = await ctx.newPage();
  const shotAll = context.scheme === 'light';

  await page.goto(`${base}/`);
  check(new URL(page.url()).pathname === '/login', `${context.label}: / without a session is not the login page`);
  await visit(page, context, 'login', { shot: shotAll });
  await logIn(page, args.member);
  await visit(page, context, 'dashboard');

  // The first Tab shows the skip link, on screen.
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => {
    const focused = document.activeElement;
    const box = focused.getBoundingClientRect();
    return { skip: focused.classList.contains('skip'), visible: box.left >= 0 && box.top >= 0 && box.width > 0 };
  });
  check(skip.skip && skip.visible, `${context.label}: the first Tab does not show the skip link: ${JSON.stringify(skip)}`);

  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Bundles' }).click();
  await page.waitForURL(`${base}/bundles`);

  // Triage through the bulk form (a POST with the session's CSRF token, from this origin): the scanning bundle is
  // marked not relevant, and its row says so.
  const scanning = page.locator('table.bundles tbody tr', { hasText: 'scan-origin.example.net' });
  await scanning.getByRole('checkbox').check();
  await page.getByLabel('With the selected bundles').selectOption('not_relevant');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/\/bundles/);
  const triaged = await page.locator('table.bundles tbody tr', { hasText: 'scan-origin.example.net' }).innerText();
  check(triaged.includes('not relevant'), `${context.label}: the bulk action did not mark the bundle: ${triaged}`);
  await visit(page, context, 'bundles', { shot: shotAll });

  // The filter form puts the filters in the address.
  await page.getByLabel('Marking').selectOption('amber');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/\/bundles\?.*tlp=amber/);
  const markings = await page.locator('table.bundles tbody td.marking .tlp').allInnerTexts();
  check(
    markings.length > 0 && markings.every((m) => m.trim() === 'TLP:AMBER'),
    `${context.label}: the TLP:AMBER filter shows ${JSON.stringify(markings)}`,
  );
  await visit(page, context, 'bundles-amber', { shot: shotAll });

  const amberIndex = page.url();

  // Every status: a retracted bundle is listed, marked as such.
  await page.getByLabel('Marking').selectOption('');
  await page.getByLabel('Status').selectOption('all');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/\/bundles\?.*status=all/);
  const statuses = await page.locator('table.bundles tbody td.what').allInnerTexts();
  check(statuses.some((s) => s.includes('(retracted)')), `${context.label}: status=all lists no retracted bundle`);
  await visit(page, context, 'bundles-all', { shot: shotAll });

  await page.goto(amberIndex);
  await page.locator('table.bundles tbody td.what a').first().click();
  await page.waitForURL(/\/bundles\/[0-9a-f]{64}$/);
  const amber = new URL(page.url()).pathname.split('/').pop();
  await bannerFirst(page, `bundle (${context.label})`, 'TLP:AMBER');
  await visit(page, context, 'bundle');

  await page.goto(`${base}/bundles?kind=sitrep`);
  await page.locator('table.bundles tbody td.what a').first().click();
  await page.waitForURL(/\/bundles\/[0-9a-f]{64}$/);
  await bannerFirst(page, `sitrep (${context.label})`, 'TLP:');
  await visit(page, context, 'sitrep', { shot: shotAll });

  const absent = await page.goto(`${base}/bundles/${ABSENT}`);
  check(absent.status() === 404, `${context.label}: an absent id answers ${absent.status()}`);
  await visit(page, context, 'not-found', { shot: shotAll });

  // Search by value: one value found, one not.
  await nav.getByRole('link', { name: 'Search' }).click();
  await page.locator('textarea[name="values"]').fill('hxxp://vpn-update[.]example[.]com/agent.bin\n203.0.113.250');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL(`${base}/search`);
  const found = await page.locator('main h2').first().innerText();
  check(found.startsWith('1 of 2'), `${context.label}: the search says ${JSON.stringify(found)}`);
  await visit(page, context, 'search', { shot: shotAll });

  // Export what the search found: every row comes selected, the STIX button downloads a STIX 2.1 bundle.
  const unchecked = await page.locator('table.bundles input[type="checkbox"]:not(:checked)').count();
  check(unchecked === 0, `${context.label}: ${unchecked} search results are not selected for export`);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export selected as STIX 2.1' }).click(),
  ]);
  const exported = download.suggestedFilename();
  check(/^dims-selection-.*\.json$/.test(exported), `${context.label}: the search export is named ${exported}`);

  // Publish: the preview of an incident report for the federation, from free text, nothing stored. The node bridges
  // incident reports shared in the federation, so the preview shows the redacted copy beside the original.
  await nav.getByRole('link', { name: 'Publish' }).click();
  await page.waitForURL(`${base}/publish`);
  await page.locator('select[name="tlp"]').selectOption('green');
  await page.locator('input[name="audience"]').fill('federation');
  await page.locator('select[name="kind"]').selectOption('incident_report');
  await page.locator('input[name="title"]').fill('Ransomware at a water utility');
  await page.locator('textarea[name="summary"]').fill('Staff member J. Doe opened the invoice attachment.');
  await page.locator('input[name="victims"]').fill('10.20.0.5, 10.20.0.17');
  await page.locator('textarea[name="text"]').fill('Seen today: 198.51.100.9 and hxxps://parcel-notice[.]example/track');
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.waitForURL(`${base}/publish/preview`);
  const rows = await page.locator('section.preview table.indicators tbody tr').count();
  check(rows === 2, `${context.label}: the preview shows ${rows} indicators, not 2`);
  const copy = await page.locator('section.derivative .side').nth(1).innerText();
  check(
    copy.includes('TLP:CLEAR') && !copy.includes('10.20.0.5') && !copy.includes('J. Doe'),
    `${context.label}: the bridge's copy is not redacted: ${JSON.stringify(copy)}`,
  );
  await visit(page, context, 'publish-preview', { shot: shotAll });

  // Publish it: the member's own bundle offers Update and Retract; a retraction with its reason shows at once.
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.waitForURL(/\/bundles\/[0-9a-f]{64}$/);
  const own = page.url();
  const report = await page.locator('main').innerText();
  check(
    report.includes('Affected addresses (2)') && report.includes('10.20.0.17') && report.includes('J. Doe opened'),
    `${context.label}: the incident report's page lacks its victims or description: ${JSON.stringify(report)}`,
  );
  check(
    (await page.getByRole('link', { name: 'Update' }).count()) === 1,
    `${context.label}: the author's bundle offers no Update`,
  );
  await visit(page, context, 'own-bundle', { shot: shotAll });
  await page.getByLabel(/Why it is retracted/).fill('published from the browser test');
  await page.getByRole('button', { name: 'Retract' }).click();
  await page.waitForURL(own);
  const retracted = await page.locator('main').innerText();
  check(retracted.includes('This bundle was retracted'), `${context.label}: the retracted bundle does not say so`);
  check((await page.getByRole('button', { name: 'Retract' }).count()) === 0, `${context.label}: Retract still offered`);
  await visit(page, context, 'retracted', { shot: false });

  // The directory, a member's card, and one's own profile.
  await nav.getByRole('link', { name: 'Directory' }).click();
  await page.waitForURL(`${base}/members`);
  await visit(page, context, 'members', { shot: shotAll });
  await page.locator('table.members tbody a').first().click();
  await page.waitForURL(/\/members\/.+/);
  await visit(page, context, 'member', { shot: shotAll });
  await page.locator('.who a[href="/profile"]').click();
  await page.waitForURL(`${base}/profile`);
  await visit(page, context, 'profile', { shot: shotAll });

  // Trust groups and the federation at a glance (this node has neither), and an API token made through the form.
  await nav.getByRole('link', { name: 'Trust groups' }).click();
  await page.waitForURL(`${base}/groups`);
  await visit(page, context, 'groups', { shot: shotAll });
  await nav.getByRole('link', { name: 'Federation' }).click();
  await page.waitForURL(`${base}/federation`);
  await visit(page, context, 'federation', { shot: shotAll });
  await nav.getByRole('link', { name: 'API tokens' }).click();
  await page.waitForURL(`${base}/tokens`);
  await page.locator('input[name="label"]').fill(`siem-export-${context.label}`);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(`${base}/tokens`);
  const shown = await page.locator('.note code.id').count();
  check(shown === 1, `${context.label}: the new token is not shown once on the page`);
  await visit(page, context, 'tokens', { shot: shotAll });

  // Node administration (the member is a node admin): workers, members, every token; then the audit log.
  await nav.getByRole('link', { name: 'Administration' }).click();
  await page.waitForURL(`${base}/admin`);
  const workers = await page.locator('table.workers tbody td.name').allInnerTexts();
  check(workers.includes('portal'), `${context.label}: the admin page lists workers ${JSON.stringify(workers)}`);
  await visit(page, context, 'admin', { shot: shotAll });
  await page.getByRole('link', { name: 'The audit log' }).click();
  await page.waitForURL(`${base}/admin/audit`);
  const entries = await page.locator('table.audit tbody tr').count();
  check(entries > 0, `${context.label}: the audit log shows no entries`);
  await visit(page, context, 'audit', { shot: shotAll });

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(`${base}/login`);
  await page.goto(`${base}/`);
  check(new URL(page.url()).pathname === '/login', `${context.label}: still logged in after logging out`);
  await ctx.close();
  return amber;
}

// The outsider, with the CSP enforced: the member's AMBER bundle reads exactly like an absent id.
async function outsiderTour(browser, amber) {
  const ctx = await browser.newContext({ viewport: SIZES.laptop });
  ctx.setDefaultTimeout(30_000);
  const page = await ctx.newPage();
  // What the CSP refused, and any of the portal's own resources that failed to load (the provider's pages are not
  // the portal's, and a 404 page's own status is expected: neither counts).
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && /content security policy/i.test(message.text())) {
      errors.push(message.text());
    }
  });
  page.on('response', (response) => {
    if (response.url().startsWith(base) && response.request().resourceType() !== 'document' && response.status() >= 400) {
      errors.push(`${response.status()} ${response.url()}`);
    }
  });
  page.on('requestfailed', (request) => {
    if (request.url().startsWith(base)) {
      errors.push(`${request.failure()?.errorText} ${request.url()}`);
    }
  });
  await page.goto(`${base}/login`);
  await logIn(page, args.outsider);
  const hidden = await page.goto(`${base}/bundles/${amber}`);
  const hiddenBody = await page.locator('main').innerHTML();
  const hiddenTitle = await page.title();
  const absent = await page.goto(`${base}/bundles/${ABSENT}`);
  const absentBody = await page.locator('main').innerHTML();
  const absentTitle = await page.title();
  check(
    hidden.status() === 404 && absent.status() === 404,
    `outsider: the AMBER bundle answers ${hidden.status()}, an absent id ${absent.status()}`,
  );
  check(
    hiddenBody === absentBody && hiddenTitle === absentTitle,
    'outsider: the AMBER bundle page differs from the absent id page',
  );
  check(hiddenTitle.startsWith('Not found'), `outsider: the page is titled ${JSON.stringify(hiddenTitle)}`);
  const styled = await page.evaluate(() => getComputedStyle(document.querySelector('header.top')).borderBottomStyle);
  check(styled === 'solid', 'outsider: the stylesheet did not apply under the CSP');
  check(errors.length === 0, `outsider: refused by the CSP or failed to load: ${errors.join(' | ')}`);
  await ctx.close();
  return { status: hidden.status(), same_as_absent: hiddenBody === absentBody };
}

let outsider = null;
let browser = null;
let version = null;
try {
  // launch() gives every run a fresh, temporary user-data-dir (Playwright makes it and removes it on close).
  browser = await chromium.launch({ executablePath: EXECUTABLE, args: ARGS, headless: true });
  version = browser.version();
  let amber = null;
  for (const context of [
    { label: 'laptop', size: SIZES.laptop, scheme: 'light' },
    { label: 'phone', size: SIZES.phone, scheme: 'light' },
    { label: 'dark-laptop', size: SIZES.laptop, scheme: 'dark' },
  ]) {
    amber = await memberTour(browser, context);
  }
  outsider = await outsiderTour(browser, amber);
} catch (error) {
  fail(`the browser run stopped: ${error.stack ?? error}`);
} finally {
  await browser?.close();
}

const summary = {
  ok: failures.length === 0,
  seconds: Math.round((Date.now() - started) / 100) / 10,
  chromium: version,
  pages,
  outsider,
  failures,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(failures.length === 0 ? 0 : 1);
