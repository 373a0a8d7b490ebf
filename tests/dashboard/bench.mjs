// Dashboard benchmark (issue 16): a 100,000-device SQLite database, every page fetched 100
// times in a row by one signed-in client over loopback; prints p50/p95/max per page.
//
//   node tests/dashboard/bench.mjs [devices=100000] [fetches=100]
//
// INTERDICT_BIN picks the binary (default: the release build under the target directory).
// Devices, installs and findings are written straight into SQLite (what 100,000 enrolments
// and check-ins would leave, with WeChat episodes spread over 60 days); the policy goes through
// the API. Nothing here is a test: it only measures.
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { Server, USERS, PASSWORD, policyToml } from './harness.mjs';

const devices = Number(process.argv[2] || 100_000);
const fetches = Number(process.argv[3] || 100);
const root = resolve(import.meta.dirname, '..', '..');
// Set before the server starts: the harness reads it when it runs the binary.
process.env.INTERDICT_BIN ||= join(process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, 'target'), 'release', 'interdict');

console.log(`binary: ${process.env.INTERDICT_BIN}`);
const s = await new Server().start();
try {
  await s.api('PUT', '/api/v1/policy', { token: s.adminToken, raw: policyToml(1) });
  const now = Date.now();
  const DAY = 86_400_000;
  const t0 = Date.now();
  s.sql(`
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${devices})
INSERT INTO devices (id, token_hash, name, platform, serial, ownership, groups_json, enrolled_at,
  last_seen, revoked_at, compliant, overdue, in_grace, policy_version, checkins, last_seq)
SELECT printf('dev_b%07d', i), printf('%064d', i), printf('bench-%07d', i),
  CASE WHEN i % 10 = 0 THEN 'ios' ELSE 'android' END, printf('SN%07d', i),
  CASE WHEN i % 7 = 0 THEN 'personal' ELSE 'corporate' END,
  CASE WHEN i % 3 = 0 THEN '["government-issued","ottawa"]' ELSE '["government-issued"]' END,
  ${now - 90 * DAY},
  CASE WHEN i % 50 = 0 THEN NULL WHEN i % 37 = 0 THEN ${now - 10 * DAY} ELSE ${now} - (i % 600) * 1000 END,
  NULL, 1, 0, 0, 1, 1, 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${devices}),
  a(app) AS (VALUES ('org.mozilla.firefox'), ('com.android.chrome'), ('com.microsoft.teams'), ('org.example.notes'), ('com.example.mail'))
INSERT INTO installs (device_id, app_id, version, first_seen, last_seen, removed_at)
SELECT printf('dev_b%07d', i), app, '1.0', ${now - 80 * DAY}, ${now}, NULL FROM n, a;
-- WeChat on 5% of the fleet, opened over 60 days; two in five of them removed since.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${devices})
INSERT INTO findings (device_id, rule, app_id, opened_at, resolved_at, status, deadline, remedy, exception_id, excepted_until)
SELECT printf('dev_b%07d', i), 'ban-wechat', 'com.tencent.mm', ${now} - (i % 60) * ${DAY},
  CASE WHEN i % 100 < 2 THEN ${now} - (i % 20) * ${DAY} ELSE NULL END,
  'violation', date('now', '-60 days'), 'uninstall', NULL, NULL FROM n WHERE i % 20 = 0;
INSERT INTO installs (device_id, app_id, version, first_seen, last_seen, removed_at)
SELECT device_id, app_id, '8.0', opened_at, ${now}, resolved_at FROM findings WHERE rule = 'ban-wechat';
-- TikTok in grace on 1%.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${devices})
INSERT INTO findings (device_id, rule, app_id, opened_at, resolved_at, status, deadline, remedy, exception_id, excepted_until)
SELECT printf('dev_b%07d', i), 'ban-tiktok', 'com.zhiliaoapp.musically', ${now - 2 * DAY}, NULL, 'in_grace',
  date('now', '+27 days'), 'uninstall', NULL, NULL FROM n WHERE i % 100 = 1;
COMMIT;
ANALYZE;
`);
  console.log(`seeded ${devices} devices in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const login = await fetch(`${s.base}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email: USERS.admin, password: PASSWORD, next: '/' }),
  });
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const pages = [
    '/', '/rules/ban-wechat', '/rules/ban-wechat?status=violation', '/rules/ban-wechat/exposure.csv',
    '/devices', '/devices?seen=stale', '/devices?q=bench-00999', '/devices/dev_b0000020', '/exceptions',
    '/policy', '/policy/versions/1', '/activity', '/activity?kind=policy.', '/assessments', '/admin',
  ];
  const rows = [];
  for (const p of pages) {
    const times = [];
    for (let i = 0; i < fetches; i++) {
      const t = process.hrtime.bigint();
      const r = await fetch(s.base + p, { headers: { cookie, 'accept-language': 'en' } });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${p}: ${r.status}`);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((a, b) => a - b);
    const q = (f) => times[Math.min(times.length - 1, Math.ceil(f * times.length) - 1)];
    rows.push({ page: p, p50_ms: q(0.5).toFixed(1), p95_ms: q(0.95).toFixed(1), max_ms: times[times.length - 1].toFixed(1) });
  }
  console.log(`| page | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|`);
  for (const r of rows) console.log(`| \`${r.page}\` | ${r.p50_ms} | ${r.p95_ms} | ${r.max_ms} |`);
  console.log(`\n${devices} devices, ${fetches} sequential fetches per page, ${execFileSync('nproc').toString().trim()} cores`);
  if (process.env.BENCH_HOLD) {
    console.log(`holding ${s.base} (cookie ${cookie}) for ${process.env.BENCH_HOLD} s`);
    await new Promise((r) => setTimeout(r, 1000 * Number(process.env.BENCH_HOLD)));
  }
} finally {
  await s.stop();
}
