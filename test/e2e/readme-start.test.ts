/**
 * Foundation issue, points 1, 6 and 9: the README's start command works as a new user runs
 * it — a fresh data directory is initialised, every listening address is printed, the CLI
 * creates a domain and an account, the health endpoints answer, and SIGTERM stops the
 * server cleanly (audited).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOOPBACK_LISTENERS, ROOT, bulwark, cleanEnv } from '../harness/cli.ts';
import { tempDir } from '../harness/tmp.ts';

function readmeCommand(kind: 'start' | 'test'): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([^`]*?)\n```/g)].map((m) => m[1].trim());
  const hit = blocks.find((b) => b.includes(kind === 'start' ? 'npm start' : 'npm test'));
  if (!hit) throw new Error(`README has no ${kind} command`);
  return hit;
}

function get(url: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { rejectUnauthorized: false, method: 'GET' }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function getHttp(url: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

describe('README start command (end to end)', () => {
  const tmp = tempDir();
  const data = path.join(tmp.dir, 'data');
  let child: ChildProcess | undefined;
  afterAll(() => {
    // A child that died of a signal has exitCode null too; its group may be gone already.
    if (child && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch { /* the group has exited */ }
    }
    tmp.cleanup();
  });

  it('is exactly "npm ci && npm start" and "npm ci && npm test"', () => {
    expect(readmeCommand('start')).toBe('npm ci && npm start');
    expect(readmeCommand('test')).toBe('npm ci && npm test');
  });

  it('starts on a fresh data directory, serves health, takes a CLI-made account and stops on SIGTERM (GW-INS-1)', async () => {
    // npm ci has run already (this suite runs under it); the rest is the README's `npm start`,
    // with the data directory and ports moved aside so parallel test files do not collide.
    const env = cleanEnv({ BULWARK_DATA: data, ...LOOPBACK_LISTENERS });
    child = spawn('npm', ['start'], { cwd: ROOT, env, detached: true });
    let stderr = '';
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    const addresses = await new Promise<Record<string, string>>((resolve, reject) => {
      const found: Record<string, string> = {};
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}\n${stdout}`)), 45_000);
      child!.stderr!.on('data', (d) => {
        stderr += d;
        for (const m of stderr.matchAll(/^listening: (\w+) (\S+)$/gm)) found[m[1]] = m[2];
        if (found.http && found.https && /bulwark is running/.test(stderr)) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      child!.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${stderr}`)));
    });
    expect(stderr).toMatch(/initialised .*data/);
    expect(stderr).toMatch(/No accounts yet/);
    expect(addresses.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(fs.statSync(path.join(data, 'bulwark.toml')).mode & 0o077).toBe(0);
    expect(fs.statSync(data).mode & 0o077).toBe(0);
    expect(fs.readFileSync(path.join(data, 'bulwark.toml'), 'utf8')).toMatch(/^secret = "[A-Za-z0-9_-]{43}"$/m);

    const live = await getHttp(`${addresses.http}/healthz`);
    expect(live).toEqual({ status: 200, body: { status: 'ok' } });
    const ready = await get(`${addresses.https}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, directory: 'up', partitions: { main: 'up' } });

    // The CLI works beside the running server on the same SQLite store.
    const cliEnv = { BULWARK_DATA: data };
    expect((await bulwark(['domain', 'add', 'example.org'], { env: cliEnv })).code).toBe(0);
    const add = await bulwark(['account', 'add', 'alice@example.org', '--password-stdin', '--name', 'Alice'], { env: cliEnv, input: 'correct horse battery\n' });
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).not.toContain('correct horse battery');
    const list = await bulwark(['account', 'list', '--json'], { env: cliEnv });
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ address: 'alice@example.org', name: 'Alice', roles: ['user'], partition: 'main' })]);

    // SIGTERM to the whole process group, as a service manager does: npm dies of the signal,
    // the server stops gracefully (it logs service.stopped and audits service.stop).
    const exited = new Promise<void>((r) => child!.on('exit', () => r()));
    process.kill(-child.pid!, 'SIGTERM');
    await exited;
    for (let i = 0; i < 100 && !/service\.stopped/.test(stdout); i++) await new Promise((r) => setTimeout(r, 100));
    expect(stdout).toMatch(/"msg":"service\.stopped"/);
    expect(fs.existsSync(path.join(data, 'bulwark.db-wal'))).toBe(false); // closed cleanly, WAL checkpointed
    const audit = await bulwark(['audit', 'list', '--json'], { env: cliEnv });
    const events = JSON.parse(audit.stdout).map((e: { event: string }) => e.event);
    expect(events).toEqual(['service.start', 'domain.create', 'account.create', 'service.stop']);
    // Nothing secret in the logs (GW-LOG-3).
    expect(stdout + stderr).not.toMatch(/correct horse battery|secret = /);
  });
});
