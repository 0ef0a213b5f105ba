import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../helpers/azurite.ts';
import { cleanEnv, ferry, tempDir } from '../helpers/ferry.ts';

// A managed identity through @azure/identity, end to end on loopback: Azurite over HTTPS with
// OAuth on (--oauth basic: it checks a bearer token's audience and issuer, not its signature), a
// private CA trusted through AWS_CA_BUNDLE, and a token endpoint speaking the App Service managed
// identity protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER), which ManagedIdentityCredential uses
// when those are set. Nothing here reaches Entra ID or the instance metadata service.
const dir = tempDir('az-identity');
let azurite: Azurite;
let tokens: Server;
let tokenPort = 0;
const asked: Array<{ url: string; header?: string }> = [];
let refuse = false;

function jwt(): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const tenant = 'ab1f708d-50f6-404c-a006-d71b2ac7a606';
  const claims = { aud: 'https://storage.azure.com', iss: `https://sts.windows.net/${tenant}/`, tid: tenant };
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ ...claims, iat: now, nbf: now, exp: now + 3600 })}.c2ln`;
}

beforeAll(async () => {
  execFileSync('openssl', [
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=ferry test CA'],
    ...['-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
  ]);
  azurite = await startAzurite({ https: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } });
  const admin = new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(azurite.account, azurite.key), {
    tlsOptions: { ca: readFileSync(join(dir, 'cert.pem'), 'utf8') },
  } as object);
  await admin.getContainerClient('idt').createIfNotExists();
  await admin.getContainerClient('idt').getBlockBlobClient('in/a.txt').upload(Buffer.from('hello\n'), 6);
  tokens = createServer((req, res) => {
    asked.push({ url: req.url ?? '', header: req.headers['x-identity-header'] as string | undefined });
    if (refuse) return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"nope"}');
    const expires = String(Math.floor(Date.now() / 1000) + 3600);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ access_token: jwt(), expires_on: expires, resource: 'https://storage.azure.com' }));
  });
  await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', r));
  tokenPort = (tokens.address() as { port: number }).port;
});
afterAll(async () => {
  await azurite?.stop();
  await new Promise((r) => tokens?.close(r));
});

const env = () =>
  cleanEnv({
    AZURE_STORAGE_AUTH_MODE: 'login',
    IDENTITY_ENDPOINT: `http://127.0.0.1:${tokenPort}/msi/token`,
    IDENTITY_HEADER: 'identity-header-value',
    AZURE_STORAGE_SERVICE_ENDPOINT: azurite.endpoint,
    AWS_CA_BUNDLE: join(dir, 'cert.pem'),
  });

describe('AZURE_STORAGE_AUTH_MODE=login with a managed identity (@azure/identity, in the binary too)', () => {
  it('gets a token for storage from the identity endpoint and downloads with it', async () => {
    const out = tempDir('az-id-out');
    const r = await ferry(['get', '--retries', '1', `az://${azurite.account}/idt/in/a.txt`, out], { env: env() });
    expect(r.exitCode, r.all).toBe(0);
    expect(readFileSync(join(out, 'a.txt'), 'utf8')).toBe('hello\n');
    expect(asked.length).toBeGreaterThan(0);
    expect(asked[0].url).toContain('resource=https%3A%2F%2Fstorage.azure.com');
    expect(asked[0].header).toBe('identity-header-value');
  });

  it('an identity endpoint that refuses: exit 77 saying there is no Azure token', async () => {
    refuse = true;
    const out = tempDir('az-id-refused');
    writeFileSync(join(out, 'keep.txt'), 'x');
    const r = await ferry(['get', '--retries', '1', `az://${azurite.account}/idt/in/a.txt`, out], { env: env() });
    refuse = false;
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain('no Azure token');
  });
});
