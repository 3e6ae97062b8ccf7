/**
 * Runs the real `bulwark` command (bin/bulwark.js) as a child process, as an operator would.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/bulwark.js');
export const NODE = process.execPath;

/** Every listener on loopback with a port the kernel picks, so test servers never collide. */
export const LOOPBACK_LISTENERS: Record<string, string> = {
  BULWARK_LISTEN_HTTP: '127.0.0.1:0',
  BULWARK_LISTEN_HTTPS: '127.0.0.1:0',
  BULWARK_LISTEN_SMTP: '127.0.0.1:0',
  BULWARK_LISTEN_SUBMISSION: '127.0.0.1:0',
  BULWARK_LISTEN_SUBMISSIONS: '127.0.0.1:0',
  BULWARK_LISTEN_IMAP: '127.0.0.1:0',
  BULWARK_LISTEN_IMAPS: '127.0.0.1:0',
  BULWARK_LISTEN_POP3: '127.0.0.1:0',
  BULWARK_LISTEN_POP3S: '127.0.0.1:0',
  // DNS only on loopback: nothing answers on port 1, so lookups fail at once (SPF/DKIM give
  // temperror, MX lookups a temporary error) and no test ever queries a real resolver.
  BULWARK_DNS_SERVERS: '127.0.0.1:1',
};

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment without BULWARK_* leaking in from the caller. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BULWARK_')) env[k] = v;
  return { ...env, ...extra };
}

export function bulwarkSync(args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): CliResult {
  const r = spawnSync(NODE, [BIN, ...args], { input: opts.input ?? '', env: cleanEnv(opts.env), cwd: opts.cwd ?? ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function bulwark(args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [BIN, ...args], { env: cleanEnv(opts.env), cwd: opts.cwd ?? ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}
