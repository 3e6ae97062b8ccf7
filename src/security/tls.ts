/**
 * TLS material: a self-signed certificate made at init (EC P-256, two years, names the
 * server's host name, localhost and the loopback addresses) for the operator to replace
 * with a real one, and loading of whatever the configuration names.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { DomainError } from '../core/errors.ts';
import { writeDurably } from '../lib/durable.ts';

export async function makeSelfSigned(certFile: string, keyFile: string, hostname: string): Promise<void> {
  const names = [...new Set([hostname, 'localhost'])];
  // Loaded here, not at start: node-forge behind it costs a running server some 20 MB it never uses.
  const { generate } = await import('selfsigned');
  const res = await generate([{ name: 'commonName', value: hostname }, { name: 'organizationName', value: 'Bulwark self-signed' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 2 * 365 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...names.map((n) => ({ type: 2 as const, value: n })), { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  // Durable and whole (temp file, fsync, rename): a crash never leaves half a key behind.
  await writeDurably(keyFile, Buffer.from(res.private));
  await writeDurably(certFile, Buffer.from(res.cert));
  fs.chmodSync(certFile, 0o644);
}

export interface TlsMaterial {
  cert: string;
  key: string;
  /** Subject and expiry, for the start banner and the self-check. */
  subject: string;
  validTo: string;
  selfSigned: boolean;
}

export function loadTls(certFile: string, keyFile: string): TlsMaterial {
  let cert: string;
  let key: string;
  try {
    cert = fs.readFileSync(certFile, 'utf8');
    key = fs.readFileSync(keyFile, 'utf8');
  } catch (e) {
    throw new DomainError('CONFIG_INVALID', `tls: cannot read ${(e as NodeJS.ErrnoException).path ?? certFile}: ${(e as NodeJS.ErrnoException).code}; set tls.cert and tls.key or run bulwark init`);
  }
  let x: crypto.X509Certificate;
  try {
    x = new crypto.X509Certificate(cert);
    if (!x.checkPrivateKey(crypto.createPrivateKey(key))) throw new Error('the key does not belong to the certificate');
  } catch (e) {
    throw new DomainError('CONFIG_INVALID', `tls: ${certFile}: ${(e as Error).message}`);
  }
  return { cert, key, subject: x.subject.replace(/\n/g, ', '), validTo: x.validTo, selfSigned: x.issuer === x.subject };
}
