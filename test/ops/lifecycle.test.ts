/**
 * Foundation issue, point 9: `serve` checks the store before it listens, starts listeners in
 * a fixed order, and on stop refuses new connections, gives in-flight work a bounded grace
 * and then cuts what remains, and closes the store.
 */
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, LISTENER_ORDER, parseListen } from '../../src/ops/lifecycle.ts';
import { initInstallation } from '../../src/ops/init.ts';
import { silentLogger } from '../../src/ops/log.ts';
import { readAudit } from '../../src/security/audit.ts';
import { Stores } from '../../src/store/stores.ts';
import { tempDir } from '../harness/tmp.ts';
import { LOOPBACK_LISTENERS } from '../harness/cli.ts';
import { DomainError } from '../../src/core/errors.ts';

const env = { ...LOOPBACK_LISTENERS, BULWARK_SERVER_SHUTDOWN_GRACE_SECONDS: '1' };

describe('server lifecycle', () => {
  const tmp = tempDir();
  const data = path.join(tmp.dir, 'data');
  beforeAll(async () => {
    await initInstallation({ dataDir: data, domain: 'example.org', env: {} });
  });
  afterAll(() => tmp.cleanup());

  it('parses listen addresses, IPv6 included', () => {
    expect(parseListen('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen('[::1]:993')).toEqual({ host: '::1', port: 993 });
    expect(LISTENER_ORDER[0]).toBe('http');
  });

  it('listens in the fixed order, and stop cuts an unfinished request after the grace and refuses new connections', async () => {
    const lines: string[] = [];
    const s = await startServer(data, { env, log: silentLogger(), print: (l) => lines.push(l) });
    expect(s.listening.map((l) => l.name)).toEqual([...LISTENER_ORDER]);
    expect(lines.filter((l) => l.startsWith('listening: ')).map((l) => l.split(' ')[1])).toEqual([...LISTENER_ORDER]);
    const { port } = s.listening[0];
    // An in-flight request: headers not finished.
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.on('connect', () => r()));
    sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    await s.stop('test');
    await closed; // cut once the grace ran out
    const refused = await new Promise<string>((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => { c.destroy(); r('connected'); });
      c.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    const stores = await Stores.open({ dataDir: data, directoryUrl: 'sqlite:bulwark.db', partitions: { main: 'sqlite:bulwark.db' }, blobBackend: 'auto', poolSize: 1, connectTimeoutMs: 1000, retryAfterMs: 1000 });
    try {
      const events = (await readAudit(stores.directory)).map((e) => e.event);
      expect(events.slice(-2)).toEqual(['service.start', 'service.stop']);
    } finally {
      await stores.close();
    }
    expect(fs.existsSync(path.join(data, 'bulwark.db-wal'))).toBe(false);
  });

  it('refuses to start when the store fails its integrity check, before any listener opens', async () => {
    const bad = path.join(tmp.dir, 'bad');
    await initInstallation({ dataDir: bad, env: {} });
    fs.writeFileSync(path.join(bad, 'bulwark.db'), Buffer.alloc(8192, 0x42)); // not a database
    const lines: string[] = [];
    const err = await startServer(bad, { env, log: silentLogger(), print: (l) => lines.push(l) }).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('INTEGRITY');
    expect((err as Error).message).toMatch(/primary store: file is not a database/);
    expect(lines.some((l) => l.startsWith('listening'))).toBe(false);
  });

  it('refuses to start without TLS material for an HTTPS listener, naming the file', async () => {
    const d = path.join(tmp.dir, 'notls');
    await initInstallation({ dataDir: d, env: {} });
    fs.rmSync(path.join(d, 'tls'), { recursive: true });
    const err = await startServer(d, { env, log: silentLogger() }).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('CONFIG_INVALID');
    expect((err as Error).message).toMatch(/tls: cannot read .*cert\.pem/);
  });
});
