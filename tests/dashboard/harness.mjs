// Starts a real `interdict serve` on loopback over a fresh SQLite database and seeds it:
// devices in every status, a ban with a burn-down over 60 days, pending, approved and expired
// exceptions, a hostile device name, and four people (admin, approver, analyst, viewer).
// Nothing is downloaded: the binary is the one cargo built, the browser Debian's chromium.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
/** The `interdict` binary: $INTERDICT_BIN, else the debug build under the target directory. */
export const bin = () => process.env.INTERDICT_BIN
  || join(process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, 'target'), 'debug', 'interdict');
/** An APK built by the apk-fixtures crate (cargo test builds them under the target directory). */
export function fixtureApk() {
  const dir = join(process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, 'target'), 'apk-fixtures');
  let names = [];
  try { names = readdirSync(dir).filter((n) => n.endsWith('.apk')); } catch { /* none */ }
  const pick = names.find((n) => n.startsWith('risk_capabilities-')) || names.find((n) => n.startsWith('risk_')) || names[0];
  if (!pick) throw new Error(`no APK fixture in ${dir}: run cargo test first (it builds them)`);
  return join(dir, pick);
}

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PASSWORD = 'violet-otter-lantern-42';
export const USERS = {
  admin: 'admin@example.org',
  approver: 'approver@example.org',
  analyst: 'analyst@example.org',
  viewer: 'viewer@example.org',
};

const DAY = 86_400_000;
export const day = (offset) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10);

export function policyToml(version, extra = '') {
  return `[policy]
name = "gc-dashboard-test"
version = ${version}
mode = "denylist"

[[rules]]
id = "ban-wechat"
title = "WeChat"
action = "prohibit"
app_ids = ["com.tencent.mm"]
effective = ${day(-60)}
grace_days = 0
rationale = "Unacceptable level of risk to privacy and security."
authority = "Chief Information Officer of Canada"

[[rules]]
id = "ban-tiktok"
title = "TikTok"
action = "prohibit"
app_ids = ["com.zhiliaoapp.musically"]
effective = ${day(-3)}
grace_days = 30
rationale = "Risk to privacy."
authority = "Chief Information Officer of Canada"

[[rules]]
id = "ban-kaspersky"
title = "Kaspersky"
action = "prohibit"
app_ids = ["com.kms.free"]
effective = ${day(-60)}
grace_days = 0
rationale = "Precautionary."
authority = "Chief Information Officer of Canada"
${extra}`;
}

export const HOSTILE_NAME = '<script>alert(1)</script>\r\n\u202Egpj.exe ' + 'A'.repeat(150);

export class Server {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), 'interdict-dash-'));
    this.data = join(this.dir, 'data');
    const init = JSON.parse(execFileSync(bin(), ['init', '--data-dir', this.data, '--json'], { encoding: 'utf8' }));
    this.adminToken = init.admin_token;
    this.enrollSecret = init.enroll_secret;
    this.userIds = {};
    for (const [role, email] of Object.entries(USERS)) {
      const out = execFileSync(bin(), ['user', 'add', '--data-dir', this.data, '--email', email,
        '--name', `${role[0].toUpperCase()}${role.slice(1)} Person`, '--role', role, '--password-stdin'],
      { input: `${PASSWORD}\n`, encoding: 'utf8' });
      this.userIds[role] = out.match(/usr_[0-9a-f]+/)[0];
    }
    this.proc = spawn(bin(), ['serve', '--data-dir', this.data, '--listen', '127.0.0.1:0',
      '--enroll-rate-limit', '0', '--rate-limit', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = '';
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.base = await new Promise((ok, fail) => {
      let out = '';
      const t = setTimeout(() => fail(new Error(`serve did not start: ${out}${this.log}`)), 30_000);
      this.proc.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/listening on (http:\/\/[0-9.:]+)/);
        if (m) { clearTimeout(t); ok(m[1]); }
      });
      this.proc.on('exit', (c) => { clearTimeout(t); fail(new Error(`serve exited ${c}: ${this.log}`)); });
    });
    return this;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      const done = new Promise((r) => this.proc.on('exit', r));
      this.proc.kill('SIGTERM');
      await done;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  async api(method, path, { body, token, raw } = {}) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) { payload = JSON.stringify(body); headers['content-type'] = 'application/json'; }
    const r = await fetch(this.base + path, { method, headers, body: payload });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return json;
  }

  /** A token of `role` owned by that person (so two-person rules see two people). */
  tokenFor(role) {
    const out = execFileSync(bin(), ['token', 'create', '--data-dir', this.data, '--role', role,
      '--name', `seed-${role}`, '--user', this.userIds[role], '--json'], { encoding: 'utf8' });
    return JSON.parse(out).token;
  }

  sql(statements) {
    execFileSync('sqlite3', [join(this.data, 'interdict.db')], { input: `PRAGMA busy_timeout=5000;\n${statements}\n` });
  }

  async enroll(name, { platform = 'android', groups = ['government-issued'], ownership = 'corporate' } = {}) {
    const v = await this.api('POST', '/api/v1/enroll', {
      body: { enroll_secret: this.enrollSecret, device: { name, platform, serial: name.slice(0, 60), ownership, groups } },
    });
    return { id: v.device_id, token: v.device_token, name };
  }

  checkin(dev, apps, seq) {
    return this.api('POST', '/api/v1/checkin', {
      token: dev.token,
      body: { inventory: { apps: apps.map((id) => ({ id, version: '1.0' })) }, seq },
    });
  }

  async seed() {
    await this.api('PUT', '/api/v1/policy', { token: this.adminToken, raw: policyToml(1) });
    const analyst = this.tokenFor('analyst');
    const approver = this.tokenFor('approver');
    const devices = {};
    const add = async (key, apps, opts) => {
      const d = await this.enroll(key, opts);
      if (apps) await this.checkin(d, apps, 1);
      devices[key] = d;
      return d;
    };
    const base = ['org.mozilla.firefox', 'com.android.chrome'];
    for (let i = 1; i <= 6; i++) await add(`overdue-${i}`, [...base, 'com.tencent.mm']);
    for (let i = 1; i <= 8; i++) await add(`fixed-${i}`, [...base, 'com.tencent.mm']);
    for (let i = 1; i <= 3; i++) await add(`grace-${i}`, [...base, 'com.zhiliaoapp.musically']);
    for (let i = 1; i <= 5; i++) await add(`clean-${i}`, base);
    for (let i = 1; i <= 2; i++) await add(`stale-${i}`, base);
    for (let i = 1; i <= 2; i++) await add(`never-${i}`, null);
    await add('excepted-1', [...base, 'com.kms.free']);
    await add('pending-1', [...base, 'com.kms.free']);
    await add('expired-1', [...base, 'com.kms.free']);
    await add(HOSTILE_NAME, [...base, 'com.tencent.mm']);
    devices.hostile = devices[HOSTILE_NAME];
    // The fixed devices removed WeChat: their episodes close.
    for (let i = 1; i <= 8; i++) await this.checkin(devices[`fixed-${i}`], base, 2);
    // Exceptions: one approved, one pending, one approved and then expired.
    const request = (dev, rule, app) => this.api('POST', '/api/v1/exceptions', {
      token: analyst,
      body: { device_id: dev.id, rule, app_id: app, basis: 'security_research', justification: 'Malware analysis lab device', expires: day(30) },
    });
    const approve = (id) => this.api('POST', `/api/v1/exceptions/${id}/approve`, { token: approver, raw: '' });
    const e1 = await request(devices['excepted-1'], 'ban-kaspersky', 'com.kms.free');
    await approve(e1.id);
    await request(devices['pending-1'], 'ban-kaspersky', 'com.kms.free');
    const e3 = await request(devices['expired-1'], 'ban-kaspersky', 'com.kms.free');
    await approve(e3.id);
    // Check in again so the findings take the exceptions.
    await this.checkin(devices['excepted-1'], [...base, 'com.kms.free', 'org.example.notes'], 2);
    await this.checkin(devices['expired-1'], [...base, 'com.kms.free', 'org.example.notes'], 2);
    // History that the API cannot write: a ban rolled out over 60 days (episodes opened
    // 60..40 days ago, the fixed ones closed 30..2 days ago), two devices silent for 10 days,
    // an exception that ended two days ago.
    const now = Date.now();
    let sql = '';
    for (let i = 1; i <= 6; i++) sql += `UPDATE findings SET opened_at = ${now - (60 - i * 3) * DAY} WHERE device_id = '${devices[`overdue-${i}`].id}';\n`;
    for (let i = 1; i <= 8; i++) {
      sql += `UPDATE findings SET opened_at = ${now - (59 - i * 2) * DAY}, resolved_at = ${now - (32 - i * 3.5) * DAY} WHERE device_id = '${devices[`fixed-${i}`].id}';\n`;
    }
    sql += `UPDATE findings SET opened_at = ${now - 50 * DAY} WHERE device_id = '${devices.hostile.id}';\n`;
    for (let i = 1; i <= 2; i++) sql += `UPDATE devices SET last_seen = ${now - 10 * DAY} WHERE id = '${devices[`stale-${i}`].id}';\n`;
    sql += `UPDATE exceptions SET expires = '${day(-2)}' WHERE id = '${e3.id}';\n`;
    sql += `UPDATE findings SET excepted_until = '${day(-2)}' WHERE device_id = '${devices['expired-1'].id}';\n`;
    this.sql(sql);
    this.devices = devices;
    return this;
  }
}
