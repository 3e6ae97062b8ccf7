/**
 * The HTTP and HTTPS listeners (fastify): health, GET /healthz (the process is alive) and
 * GET /readyz (the primary store answers and the node is not stopping; partitions are
 * reported, and a partition that is down does not make the node unready, since every node
 * would share it); CalDAV and CardDAV under /dav/ (dav/server.ts). JMAP and the web client
 * mount here later.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { registerDav, type DavDeps } from './dav/server.ts';

export interface HealthSource {
  live(): { status: 'ok' };
  ready(): Promise<{ ready: boolean; status: string; directory: string; partitions: Record<string, string> }>;
}

export function buildHttpServer(opts: { health: HealthSource; log: Logger; tls?: { cert: string; key: string }; bodyLimit: number; dav?: DavDeps }): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit,
    requestTimeout: 60_000,
    connectionTimeout: 60_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' as const } } : {}),
  } as any) as unknown as FastifyInstance;
  app.get('/healthz', async () => opts.health.live());
  app.get('/readyz', async (_req, reply) => {
    const r = await opts.health.ready();
    reply.code(r.ready ? 200 : 503);
    return r;
  });
  if (opts.dav) registerDav(app, opts.dav, !!opts.tls);
  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).send({ error: 'not found' });
  });
  app.setErrorHandler((err: any, req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) opts.log.error({ err, path: req.url }, 'http.error');
    else opts.log.debug({ err: err.message }, 'http.client_error');
    reply.code(status).send({ error: status >= 500 ? 'internal error' : err.message });
  });
  return app;
}
