/**
 * Shared CLI plumbing: the data directory option, opening the installation, reading a
 * password from standard input, and printing listings as text or --json. Errors are printed
 * as one line "bulwark: ..." and end the command with a non-zero exit code.
 */
import type { Command } from 'commander';
import { resolveDataDir } from '../ops/config/load.ts';
import { openApp, type App } from '../app.ts';
import { systemActor, type Actor } from '../core/actor.ts';
import { DomainError } from '../core/errors.ts';
import { parseSize } from '../ops/config/schema.ts';
import os from 'node:os';

export function dataDirOf(cmd: Command): string {
  const opts = cmd.optsWithGlobals() as { data?: string };
  return resolveDataDir(opts.data);
}

export async function withApp<T>(cmd: Command, fn: (app: App, actor: Actor) => Promise<T>): Promise<T> {
  const app = await openApp(dataDirOf(cmd));
  try {
    return await fn(app, systemActor(`cli:${safeUser()}`));
  } finally {
    await app.close();
  }
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (end with Enter, then Ctrl-D): ');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw new DomainError('INVALID_INPUT', 'standard input is larger than 64 KiB');
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function parseQuota(v: string): number {
  const n = parseSize(v);
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new DomainError('INVALID_INPUT', `quota "${v}" is not a size (e.g. 500M, 2G, 0 for none)`);
  return n;
}

export function parseBool(v: string, what: string): boolean {
  if (/^(true|yes|on|1)$/i.test(v)) return true;
  if (/^(false|no|off|0)$/i.test(v)) return false;
  throw new DomainError('INVALID_INPUT', `${what} must be true or false, not "${v}"`);
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
}

export function out(line = ''): void {
  process.stdout.write(line + '\n');
}

export function printJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

/** A plain table: columns padded to their widest cell. */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const r of cells) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
  if (rows.length === 0) out('(none)');
}

export function formatBytes(n: number): string {
  if (n === 0) return '0';
  const units = ['B', 'K', 'M', 'G', 'T'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1 && Number.isInteger(v / 1024)) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i] === 'B' ? '' : units[i]}`;
}
