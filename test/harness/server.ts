/**
 * Starts `bulwark serve` as a real child process on loopback with port 0 listeners, and
 * reads the addresses it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openSqlite } from '../../src/store/engine.ts';
import { BIN, LOOPBACK_LISTENERS, NODE, ROOT, cleanEnv } from './cli.ts';

export interface ServerProcess {
  child: ChildProcess;
  addresses: Record<string, string>;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then waits for the exit code. */
  stop(): Promise<number | null>;
}

export async function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(NODE, [BIN, '--data', dataDir, 'serve'], {
    cwd: ROOT,
    env: cleanEnv({ ...LOOPBACK_LISTENERS, ...env }),
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const addresses = await new Promise<Record<string, string>>((resolve, reject) => {
    const found: Record<string, string> = {};
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 45_000);
    child.stderr.on('data', (d) => {
      err += d;
      for (const m of err.matchAll(/^listening: (\w+) (\S+)$/gm)) found[m[1]] = m[2];
      if (/bulwark is running/.test(err)) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${err}`));
    });
  });
  return {
    child,
    addresses,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exit;
    },
  };
}

/** Host and port of a listener address as the server prints it ("smtp://127.0.0.1:2525"). */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** PRAGMA quick_check on every SQLite database of a data directory (the server stopped); throws on the first that fails. */
export async function quickCheckDataDir(dir: string): Promise<void> {
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.db'))) {
    const e = openSqlite(path.join(dir, f));
    try {
      await e.quickCheck();
    } finally {
      await e.close();
    }
  }
}
