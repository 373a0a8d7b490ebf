// Browser tests of the web dashboard: Debian's chromium, headless, driven by playwright-core
// against a real `interdict serve` on loopback with a seeded database (harness.mjs). Every
// screen is scanned by axe-core at WCAG 2.1 AA in English and French, and screenshots go to
// docs/screenshots/.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { Server, CHROMIUM, PASSWORD, USERS, HOSTILE_NAME, day, policyToml, fixtureApk } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '..', '..', 'docs', 'screenshots');
mkdirSync(SHOTS, { recursive: true });

let server;
let browser;

before(async () => {
  server = await new Server().start();
  await server.seed();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

/** A signed-in page for `role`, with `lang` as the browser's language. */
async function signedIn(role, lang = 'en') {
  const context = await browser.newContext({ locale: lang === 'fr' ? 'fr-CA' : 'en-CA', viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.consoleErrors = errors;
  await page.goto(`${server.base}/`);
  assert.match(page.url(), /\/sign-in\?next=/, 'not signed in: sent to the sign-in page');
  await page.fill('#email', USERS[role]);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${server.base}/`), page.click('button[type=submit]')]);
  return page;
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes and line breaks. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

async function axe(page, what) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const summary = r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  assert.deepEqual(summary, [], `${what}: axe-core WCAG 2.1 AA violations`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

describe('dashboard', () => {
  test('sign-in page: wrong password shows an error and keeps the email', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.base}/sign-in`);
    await axe(page, 'sign-in');
    await page.fill('#email', USERS.viewer);
    await page.fill('#password', 'not-the-password-at-all');
    const [resp] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/sign-in') && r.request().method() === 'POST'), page.click('button[type=submit]')]);
    assert.equal(resp.status(), 401);
    await page.waitForSelector('#signin-error');
    assert.equal(await page.inputValue('#email'), USERS.viewer);
    await shot(page, 'sign-in');
    await context.close();
  });

  test('overview: one card per rule, worst first, counts link to the same list', async () => {
    const page = await signedIn('admin');
    const titles = await page.$$eval('.card h2', (hs) => hs.map((h) => h.textContent.trim()));
    assert.deepEqual(titles, ['WeChat', 'Kaspersky', 'TikTok'], 'worst first');
    // Stale and never-reported devices are counted apart, never as compliant.
    const wechat = page.locator('.card').first();
    const value = async (cls) => Number((await wechat.locator(`.count.${cls} dd`).textContent()).replace(/\D/g, ''));
    assert.equal(await value('stale'), 2);
    assert.equal(await value('never'), 2);
    assert.equal(await value('violation'), 7);
    assert.equal(await value('scope'), 30);
    assert.equal(await value('compliant'), 30 - 7 - 2 - 2);
    await page.waitForSelector('.as-of');
    await axe(page, 'overview (en)');
    await shot(page, 'overview');
    // Open the overdue list from the card: the list shows the same number of rows.
    const overdue = await value('violation');
    await Promise.all([page.waitForURL(/\/rules\/ban-wechat\?status=violation/), wechat.locator('.count.violation a').click()]);
    const rows = await page.locator('#exposure-table tbody tr').count();
    assert.equal(rows, overdue, 'the count on the card equals the rows of its list');
    assert.equal(page.consoleErrors.length, 0, page.consoleErrors.join('\n'));
  });

  test('rule page: chart with title, description and table; CSV rows equal the screen', async () => {
    const page = await signedIn('viewer');
    await page.goto(`${server.base}/rules/ban-wechat`);
    const svg = page.locator('svg.chart');
    assert.equal(await svg.getAttribute('role'), 'img');
    assert.ok((await svg.locator('title').textContent()).length > 0);
    assert.ok((await svg.locator('desc').textContent()).length > 0);
    const days = await page.locator('table.data').first().locator('tbody tr').count();
    assert.ok(days >= 60, `burn-down over 60 days, got ${days}`);
    await axe(page, 'rule (en)');
    await shot(page, 'rule');
    // The CSV link serves exactly the rows on screen, in order.
    const screenIds = await page.$$eval('#exposure-table tbody th a', (as) => as.map((a) => decodeURIComponent(a.getAttribute('href').split('/').pop())));
    const screenApps = await page.$$eval('#exposure-table tbody td:nth-child(2)', (tds) => tds.map((t) => t.textContent.trim()));
    const href = await page.getAttribute('a[href*="exposure.csv"]', 'href');
    const csv = await (await page.request.get(server.base + href)).text();
    const rows = parseCsv(csv).filter((r) => !r[0].startsWith('#'));
    assert.deepEqual(rows[0].slice(0, 5), ['device_id', 'device_name', 'platform', 'app_id', 'status']);
    const lines = rows.slice(1);
    assert.deepEqual(lines.map((r) => r[0]), screenIds);
    assert.deepEqual(lines.map((r) => r[3]), screenApps);
    // The JSON export holds the same devices.
    const json = await (await page.request.get(server.base + (await page.getAttribute('a[href*="exposure.json"]', 'href')))).json();
    assert.deepEqual(json.devices.map((d) => d.device_id), screenIds);
  });

  test('hostile device names are escaped and cut with an ellipsis', async () => {
    const page = await signedIn('viewer');
    await page.goto(`${server.base}/devices/${encodeURIComponent(server.devices.hostile.id)}`);
    const h1 = await page.locator('h1').textContent();
    assert.ok(h1.includes('<script>alert(1)</script>'), 'shown as text');
    assert.ok(h1.includes('…'), 'cut with an ellipsis');
    assert.ok(!h1.includes('\u202E'), 'no right-to-left override');
    assert.ok(h1.length < HOSTILE_NAME.length);
    assert.equal(await page.locator('main script').count(), 0);
    await axe(page, 'device (en)');
    await shot(page, 'device');
  });

  test('devices list filters live in the URL', async () => {
    const page = await signedIn('viewer');
    await page.goto(`${server.base}/devices?seen=stale`);
    assert.equal(await page.locator('#devices-table tbody tr').count(), 2);
    await page.goto(`${server.base}/devices?seen=never`);
    assert.equal(await page.locator('#devices-table tbody tr').count(), 2);
    await page.goto(`${server.base}/devices?q=grace`);
    assert.equal(await page.locator('#devices-table tbody tr').count(), 3);
    await page.goto(`${server.base}/devices`);
    await axe(page, 'devices (en)');
    await shot(page, 'devices');
  });

  test('exception: requested by an analyst, refused to the analyst, approved by an approver', async () => {
    const analyst = await signedIn('analyst');
    await analyst.goto(`${server.base}/exceptions`);
    const grace = server.devices['grace-1'];
    // An error keeps what was typed.
    await analyst.fill('#x-device', grace.id);
    await analyst.selectOption('#x-rule', 'ban-tiktok');
    await analyst.fill('#x-app', 'com.zhiliaoapp.musically');
    await analyst.selectOption('#x-basis', 'security_research');
    await analyst.fill('#x-just', 'Reverse engineering in the lab');
    await analyst.fill('#x-expires', day(900));
    await analyst.click('section button[type=submit]');
    await analyst.waitForSelector('#request-error');
    assert.equal(await analyst.inputValue('#x-device'), grace.id);
    assert.equal(await analyst.inputValue('#x-just'), 'Reverse engineering in the lab');
    await axe(analyst, 'exceptions with an error (en)');
    await analyst.fill('#x-expires', day(20));
    await Promise.all([analyst.waitForURL(/filter=pending/), analyst.click('section button[type=submit]')]);
    const row = analyst.locator('#exceptions-table tbody tr', { hasText: 'Reverse engineering' });
    assert.equal(await row.count(), 1);
    await shot(analyst, 'exceptions');
    // The analyst may not approve: a 403 page, not a blank one.
    const [resp] = await Promise.all([analyst.waitForResponse((r) => r.request().method() === 'POST'), row.locator('button.approve').click()]);
    assert.equal(resp.status(), 403);
    await analyst.waitForSelector('h1');
    assert.equal(await analyst.locator('h1').textContent(), 'Not allowed');
    await axe(analyst, '403 page (en)');
    await shot(analyst, 'forbidden');
    // Another person with the approver role approves it.
    const approver = await signedIn('approver');
    await approver.goto(`${server.base}/exceptions?filter=pending`);
    const prow = approver.locator('#exceptions-table tbody tr', { hasText: 'Reverse engineering' });
    await Promise.all([approver.waitForURL(`${server.base}/exceptions`), prow.locator('button.approve').click()]);
    const done = approver.locator('#exceptions-table tbody tr', { hasText: 'Reverse engineering' });
    assert.match(await done.textContent(), /Approved/);
    // Filters: expired holds the one that ended two days ago.
    await approver.goto(`${server.base}/exceptions?filter=expired`);
    assert.equal(await approver.locator('#exceptions-table tbody tr').count(), 1);
    await axe(approver, 'exceptions (en)');
  });

  test('unknown device, rule and page are 404 pages', async () => {
    const page = await signedIn('viewer');
    for (const path of ['/devices/nope', '/rules/no-such-rule', '/no/such/page']) {
      const r = await page.goto(server.base + path);
      assert.equal(r.status(), 404, path);
      assert.equal(await page.locator('h1').textContent(), 'Page not found');
    }
    await axe(page, '404 page (en)');
  });

  test('French: the switcher, Accept-Language, and every screen at WCAG 2.1 AA', async () => {
    const page = await signedIn('approver');
    await Promise.all([page.waitForURL(`${server.base}/`), page.click('a.lang')]);
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');
    assert.equal(await page.locator('h1').textContent(), 'Vue d’ensemble');
    await axe(page, 'overview (fr)');
    await shot(page, 'overview-fr');
    for (const path of ['/rules/ban-wechat', '/devices', `/devices/${server.devices['excepted-1'].id}`, '/exceptions', '/exceptions?filter=expired', '/devices/nope']) {
      await page.goto(server.base + path);
      assert.equal(await page.getAttribute('html', 'lang'), 'fr', path);
      await axe(page, `${path} (fr)`);
    }
    await shot(page, 'not-found-fr');
    // A browser asking for French gets French without the switcher.
    const fr = await signedIn('viewer', 'fr');
    assert.equal(await fr.getAttribute('html', 'lang'), 'fr');
    await fr.goto(`${server.base}/rules/ban-tiktok`);
    await shot(fr, 'rule-fr');
    const frSignIn = await (await browser.newContext({ locale: 'fr-CA' })).newPage();
    await frSignIn.goto(`${server.base}/sign-in`);
    assert.equal(await frSignIn.locator('h1').textContent(), 'Connexion');
    await axe(frSignIn, 'sign-in (fr)');
  });

  test('keyboard: the skip link comes first, and every link and control is reachable with a visible focus', async () => {
    const page = await signedIn('approver');
    for (const path of ['/', '/rules/ban-wechat?status=violation', '/exceptions?filter=pending']) {
      await page.goto(server.base + path);
      const expected = await page.$$eval('a[href], button, input:not([type=hidden]), select, textarea, [tabindex="0"]',
        (els) => els.filter((e) => e.offsetParent !== null || e.classList.contains('skip')).length);
      const seen = new Set();
      for (let i = 0; i < expected + 5; i++) {
        await page.keyboard.press('Tab');
        const info = await page.evaluate(() => {
          const e = document.activeElement;
          if (!e || e === document.body) return null;
          const s = getComputedStyle(e);
          const visible = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none';
          if (!e.dataset.k) e.dataset.k = String(Math.random());
          return { key: e.dataset.k, visible, tag: e.tagName, text: (e.textContent || e.name || '').trim().slice(0, 30), skip: e.classList.contains('skip') };
        });
        if (!info) continue;
        if (i === 0) assert.ok(info.skip, `${path}: the first Tab reaches the skip link`);
        assert.ok(info.visible, `${path}: no visible focus on ${info.tag} ${info.text}`);
        seen.add(info.key);
      }
      assert.equal(seen.size, expected, `${path}: every link and control is reachable by Tab`);
    }
  });

  test('assets: CSP on every page, htmx cached for a year, no inline script', async () => {
    const page = await signedIn('viewer');
    const r = await page.goto(`${server.base}/`);
    assert.match(r.headers()['content-security-policy'], /default-src 'self'/);
    const html = await r.text();
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'no inline script');
    assert.ok(!/\sstyle=/.test(html), 'no inline style');
    const js = await page.request.get(`${server.base}/assets/htmx-2.0.11.min.js`);
    assert.equal(js.status(), 200);
    assert.match(js.headers()['cache-control'], /max-age=31536000/);
  });

  test('policy: a syntax error is shown at its line, then a valid version is published and compared', async () => {
    const page = await signedIn('approver');
    await page.goto(`${server.base}/policy`);
    await axe(page, 'policy (en)');
    const bad = '[policy]\nname = "broken"\nversion = = 2\n';
    await page.setInputFiles('#p-file', { name: 'broken.toml', mimeType: 'text/plain', buffer: Buffer.from(bad) });
    await page.fill('#p-reason', 'Add the new ban');
    const [resp] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('section button[type=submit]')]);
    assert.equal(resp.status(), 422);
    const err = await page.locator('#publish-error').textContent();
    assert.match(err, /line 3, column \d+/);
    assert.equal(await page.inputValue('#p-reason'), 'Add the new ban', 'the reason typed is kept');
    await axe(page, 'policy with an error (en)');
    await shot(page, 'policy-error');
    const good = policyToml(2, `
[[rules]]
id = "ban-newapp"
title = "New app"
action = "prohibit"
app_ids = ["org.example.banned"]
effective = ${day(0)}
grace_days = 14
`);
    await page.setInputFiles('#p-file', { name: 'v2.toml', mimeType: 'text/plain', buffer: Buffer.from(good) });
    await Promise.all([page.waitForURL(/done=published/), page.click('section button[type=submit]')]);
    assert.match(await page.locator('#policy-notice').textContent(), /Version 2 is published/);
    assert.equal(await page.locator('#versions-table tbody tr').count(), 2);
    await shot(page, 'policy');
    await Promise.all([page.waitForURL(/\/policy\/diff\?from=1&to=2/), page.click('form[action="/policy/diff"] button')]);
    assert.match(await page.locator('#diff').textContent(), /Rule added: ban-newapp/);
    await axe(page, 'policy diff (en)');
    await page.goto(`${server.base}/policy/versions/2`);
    assert.equal(await page.locator('#rules-table tbody tr').count(), 4);
    await axe(page, 'policy version (en)');
    await page.goto(`${server.base}/policy/versions/99`);
    assert.equal(await page.locator('h1').textContent(), 'Page not found');
    // The overview now has a card for the new rule.
    await page.goto(`${server.base}/`);
    assert.equal(await page.locator('.card').count(), 4);
    // Viewers see the versions but not the publish form, and a POST is a 403 page.
    const viewer = await signedIn('viewer');
    await viewer.goto(`${server.base}/policy`);
    assert.equal(await viewer.locator('#p-file').count(), 0);
    const r = await viewer.request.post(`${server.base}/policy`, { multipart: { file: { name: 'x.toml', mimeType: 'text/plain', buffer: Buffer.from(good) } } });
    assert.equal(r.status(), 403);
    assert.match(await r.text(), /Not allowed/);
  });

  test('activity: filters in the URL, and the CSV holds the rows on screen', async () => {
    const page = await signedIn('viewer');
    await page.goto(`${server.base}/activity`);
    await axe(page, 'activity (en)');
    await page.fill('#a-kind', 'exception.');
    await page.fill('#a-from', day(-1));
    await Promise.all([page.waitForURL(/kind=exception\./), page.click('form.filters button')]);
    const kinds = await page.$$eval('#activity-table tbody td:nth-child(4)', (tds) => tds.map((t) => t.textContent.trim()));
    assert.ok(kinds.length >= 5, `exception events: ${kinds}`);
    for (const k of kinds) assert.match(k, /^exception\./);
    const seqs = await page.$$eval('#activity-table tbody th', (ths) => ths.map((t) => t.textContent.trim()));
    const csv = await (await page.request.get(server.base + (await page.getAttribute('a[href^="/activity.csv"]', 'href')))).text();
    const rows = parseCsv(csv).filter((r) => !r[0].startsWith('#')).slice(1);
    assert.deepEqual(rows.map((r) => r[0]), seqs);
    await shot(page, 'activity');
    await page.goto(`${server.base}/activity?from=yesterday`);
    assert.equal(await page.locator('.error').count(), 1);
  });

  test('administration: admins only; the stale window changes the overview; the secret rotates', async () => {
    const analyst = await signedIn('analyst');
    assert.equal(await analyst.locator('a[href="/admin"]').count(), 0);
    const r = await analyst.goto(`${server.base}/admin`);
    assert.equal(r.status(), 403);
    const admin = await signedIn('admin');
    await admin.goto(`${server.base}/admin`);
    await axe(admin, 'administration (en)');
    assert.equal(await admin.locator('#users-table tbody tr').count(), 4);
    await shot(admin, 'admin');
    const stale = async () => {
      await admin.goto(`${server.base}/`);
      return Number((await admin.locator('.card', { hasText: 'WeChat' }).locator('.count.stale dd').textContent()).replace(/\D/g, ''));
    };
    assert.equal(await stale(), 2);
    await admin.goto(`${server.base}/admin`);
    await admin.fill('#stale-minutes', String(30 * 24 * 60));
    await Promise.all([admin.waitForURL(/done=stale/), admin.click('form[action="/admin/stale-window"] button')]);
    assert.equal(await stale(), 0, 'a 30-day window: the devices silent for 10 days are not stale');
    await admin.goto(`${server.base}/admin`);
    await admin.fill('#stale-minutes', 'soon');
    await admin.click('form[action="/admin/stale-window"] button');
    await admin.waitForSelector('#admin-error');
    await admin.fill('#stale-minutes', '45');
    await Promise.all([admin.waitForURL(/done=stale/), admin.click('form[action="/admin/stale-window"] button')]);
    assert.equal(await stale(), 2);
    await admin.goto(`${server.base}/admin`);
    await admin.click('form[action="/admin/enroll-secret/rotate"] button');
    assert.match(await admin.locator('#new-secret').textContent(), /[0-9a-f]{64}/);
    await axe(admin, 'administration after rotation (en)');
  });

  test('assessments: upload an APK and open its report', async () => {
    const page = await signedIn('analyst');
    await page.goto(`${server.base}/assessments`);
    await axe(page, 'assessments (en)');
    // Not an APK: refused with the analyser's reason, on the page.
    await page.setInputFiles('#apk-file', { name: 'notes.apk', mimeType: 'application/vnd.android.package-archive', buffer: Buffer.from('not a zip') });
    await page.click('section button[type=submit]');
    await page.waitForSelector('#upload-error');
    await page.setInputFiles('#apk-file', fixtureApk());
    await Promise.all([page.waitForURL(/\/assessments\/asm_/), page.click('section button[type=submit]')]);
    assert.ok((await page.locator('#verdict').textContent()).trim().length > 0);
    assert.ok(await page.locator('h1').textContent());
    await axe(page, 'assessment report (en)');
    await shot(page, 'assessment');
    await page.goto(`${server.base}/assessments`);
    assert.equal(await page.locator('#assessments-table tbody tr').count(), 1);
    await shot(page, 'assessments');
    await page.goto(`${server.base}/assessments/asm_nope`);
    assert.equal(await page.locator('h1').textContent(), 'Page not found');
  });
});
