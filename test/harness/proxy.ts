/**
 * A TCP proxy on 127.0.0.1 in front of PostgreSQL (or any server): tests stop it to make a
 * database unreachable (listener closed, every piped connection destroyed) and start it
 * again on the same port, as if the server had come back.
 */
import net from 'node:net';
import { PG_ADMIN_URL } from './pg.ts';

export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<net.Socket>();
  #server?: net.Server;
  /** 0 until the first start(); then the same port every time. */
  port = 0;

  constructor(target: { host: string; port: number } = pgTarget()) {
    this.#target = target;
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target.port, this.#target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await closed;
  }
}

/** Where the test PostgreSQL listens. */
export function pgTarget(): { host: string; port: number } {
  const u = new URL(PG_ADMIN_URL);
  return { host: u.hostname, port: Number(u.port || 5432) };
}
