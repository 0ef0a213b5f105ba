import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './ferry.ts';

export interface Cert {
  /** The self-signed certificate (PEM): also the CA a client must trust (AWS_CA_BUNDLE). */
  cert: string;
  key: string;
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost (a proxy agent checks the name even for an
 * IP: NOTES.md), valid for two days, in a folder of its own.
 */
export function makeCert(cn = 'ferry test CA'): Cert {
  const dir = tempDir('tls');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`],
      ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert],
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
