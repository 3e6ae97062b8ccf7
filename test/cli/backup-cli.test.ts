/**
 * Foundation issue, point 7 (S 6.90, GW-BAK-1, GW-BAK-2) through the command line: backup
 * while the server runs, verify with a clear verdict and exit code, restore into a new data
 * directory that then starts, and a corrupted byte makes verify fail naming the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bulwark } from '../harness/cli.ts';
import { tempDir } from '../harness/tmp.ts';
import { startServerProcess, type ServerProcess } from '../harness/server.ts';

describe('bulwark backup / backup verify / restore', () => {
  const tmp = tempDir();
  const data = path.join(tmp.dir, 'data');
  const bak = path.join(tmp.dir, 'backup');
  const restored = path.join(tmp.dir, 'restored');
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    tmp.cleanup();
  });

  it('backs up a running server, verifies, restores into a new directory that serves, and catches a corrupted byte', async () => {
    expect((await bulwark(['--data', data, 'init', '--domain', 'example.org'])).code).toBe(0);
    expect((await bulwark(['--data', data, 'account', 'add', 'alice@example.org', '--password-stdin'], { input: 'a long enough secret\n' })).code).toBe(0);
    expect((await bulwark(['--data', data, 'list', 'add', 'team@example.org', '--member', 'alice@example.org'])).code).toBe(0);
    server = await startServerProcess(data);

    const b = await bulwark(['--data', data, 'backup', bak]);
    expect(b.stderr).not.toMatch(/error/i);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/backup written to/);
    const manifest = JSON.parse(fs.readFileSync(path.join(bak, 'manifest.json'), 'utf8'));
    expect(manifest.format).toBe('bulwark-backup/1');
    expect(manifest.files.map((f: { path: string }) => f.path)).toContain('config/bulwark.toml');

    const v = await bulwark(['--data', data, 'backup', 'verify', bak]);
    expect(v.stdout).toMatch(/^VERIFIED: /m);
    expect(v.code).toBe(0);
    await server.stop();
    server = undefined;

    expect((await bulwark(['--data', restored, 'restore', bak])).code).toBe(0);
    expect((await bulwark(['--data', restored, 'config', 'check'])).code).toBe(0);
    const accounts = JSON.parse((await bulwark(['--data', restored, 'account', 'list', '--json'])).stdout);
    expect(accounts.map((a: { address: string }) => a.address)).toEqual(['admin@example.org', 'alice@example.org']);
    expect(JSON.parse((await bulwark(['--data', restored, 'list', 'show', 'team@example.org', '--json'])).stdout).members).toEqual(['alice@example.org']);
    server = await startServerProcess(restored);
    expect((await fetch(`${server.addresses.http}/readyz`)).status).toBe(200);
    await server.stop();
    server = undefined;
    expect((await bulwark(['--data', restored, 'restore', bak])).code).toBe(2); // not empty

    // One corrupted byte: verify fails, exits non-zero and names the file.
    const victim = manifest.files.find((f: { path: string; size: number }) => f.path.startsWith('directory/accounts') && f.size > 0).path;
    const file = path.join(bak, victim);
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    fs.writeFileSync(file, bytes);
    const bad = await bulwark(['--data', data, 'backup', 'verify', bak]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAILED: /m);
    expect(bad.stdout).toContain(victim);
  });
});
