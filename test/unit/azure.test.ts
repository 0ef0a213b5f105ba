import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { azureCredentials, parseConnectionString } from '../../agent/azure/credentials.ts';
import { classifyAzureError } from '../../agent/azure/errors.ts';
import { EXIT, FerryError } from '../../agent/errors.ts';
import { parseUri } from '../../agent/location.ts';
import { buildAzureAccess } from '../../agent/policy-azure.ts';
import { CREDENTIAL_VARS, envSecrets } from '../../agent/secrets.ts';
import { tempDir } from '../helpers/ferry.ts';

const KEY = 'a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5==';
const SAS = 'sv=2025-01-05&ss=b&srt=co&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig=c2lnbmF0dXJl%3D';

describe('Azure credentials, in the Azure conventions', () => {
  it('a connection string: account, key and endpoint (BlobEndpoint, or built from the suffix)', () => {
    const emu = parseConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};` +
        'BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;',
      'env',
    );
    expect(emu).toMatchObject({ account: 'devstoreaccount1', endpoint: 'http://127.0.0.1:10000/devstoreaccount1' });
    expect(emu.auth).toEqual({ kind: 'key', key: KEY });
    expect(emu.secrets).toEqual([KEY]);
    const cloud = parseConnectionString(`AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.chinacloudapi.cn`, 'e');
    expect(cloud.endpoint).toBe('https://acct.blob.core.chinacloudapi.cn');
    const sas = parseConnectionString(
      `BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=${SAS}`,
      'e',
    );
    expect(sas).toMatchObject({ auth: { kind: 'sas', token: SAS }, account: 'acct' });
    expect(sas.secrets).toContain('c2lnbmF0dXJl%3D');
    expect(parseConnectionString('UseDevelopmentStorage=true', 'e').account).toBe('devstoreaccount1');
    expect(() => parseConnectionString('AccountName=acct', 'AZURE_STORAGE_CONNECTION_STRING')).toThrow(
      /AZURE_STORAGE_CONNECTION_STRING has neither/,
    );
  });

  it('the environment, first that applies: connection string, key, SAS, service principal, managed identity', () => {
    const conn = `AccountName=a1;AccountKey=${KEY}`;
    expect(azureCredentials(undefined, { AZURE_STORAGE_CONNECTION_STRING: conn, AZURE_STORAGE_KEY: 'x' }).source).toBe(
      'AZURE_STORAGE_CONNECTION_STRING',
    );
    const key = azureCredentials(undefined, { AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: KEY });
    expect(key).toMatchObject({ account: 'acct', auth: { kind: 'key', key: KEY } });
    const withEndpoint = { AZURE_STORAGE_KEY: KEY, AZURE_STORAGE_SERVICE_ENDPOINT: 'http://127.0.0.1:1/a/' };
    expect(azureCredentials(undefined, withEndpoint).endpoint).toBe('http://127.0.0.1:1/a');
    expect(azureCredentials(undefined, { AZURE_STORAGE_SAS_TOKEN: `?${SAS}` }).auth).toEqual({
      kind: 'sas',
      token: SAS,
    });
    const sp = { AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: 'c', AZURE_CLIENT_SECRET: 'client-secret-value' };
    expect(azureCredentials(undefined, sp)).toMatchObject({
      auth: { kind: 'service-principal', tenantId: 't', clientId: 'c' },
      secrets: ['client-secret-value'],
    });
    expect(() => azureCredentials(undefined, { AZURE_CLIENT_SECRET: 's' })).toThrow(/tenant id and client id/);
    expect(azureCredentials(undefined, { AZURE_STORAGE_AUTH_MODE: 'login', AZURE_CLIENT_ID: 'u' }).auth).toEqual({
      kind: 'managed-identity',
      clientId: 'u',
    });
    // Nothing configured: no guess (no probe of the instance metadata service), a clear 77 when used.
    expect(azureCredentials(undefined, {}).auth).toEqual({ kind: 'none' });
  });

  it('an --azure-config file ([storage] as in the Azure CLI config) wins over the environment', () => {
    const dir = tempDir('azcfg');
    const file = join(dir, 'azure');
    writeFileSync(
      file,
      `# job credentials\n[storage]\naccount = acct\nkey = ${KEY}\nblob_endpoint = http://127.0.0.1:9/acct\n`,
    );
    const c = azureCredentials(file, { AZURE_STORAGE_CONNECTION_STRING: 'AccountName=other;AccountKey=x' });
    expect(c).toMatchObject({ account: 'acct', endpoint: 'http://127.0.0.1:9/acct', auth: { kind: 'key', key: KEY } });
    expect(c.source).toBe(`--azure-config ${file}`);
    writeFileSync(file, `[storage]\nconnection_string = AccountName=cs;AccountKey=${KEY}\n`);
    expect(azureCredentials(file, {}).account).toBe('cs');
    writeFileSync(file, `[storage]\nsas_token = ${SAS}\n`);
    expect(azureCredentials(file, {}).auth).toEqual({ kind: 'sas', token: SAS });
    writeFileSync(file, `[storage]\nkey = ${KEY}\n`);
    expect(() => azureCredentials(file, {})).toThrow(/has key but no account/);
    writeFileSync(file, '[storage]\naccount = acct\n');
    expect(() => azureCredentials(file, {})).toThrow(/holds no credentials/);
  });

  it('masks every Azure secret of the environment and keeps them from the solver', () => {
    const env = {
      AZURE_STORAGE_CONNECTION_STRING: `AccountName=a;AccountKey=${KEY}`,
      AZURE_STORAGE_SAS_TOKEN: SAS,
      AZURE_CLIENT_SECRET: 'client-secret-value',
    };
    const s = envSecrets(env);
    for (const v of [KEY, SAS, 'c2lnbmF0dXJl%3D', 'client-secret-value']) expect(s).toContain(v);
    for (const k of Object.keys(env)) expect(CREDENTIAL_VARS).toContain(k);
    expect(CREDENTIAL_VARS).toContain('AZURE_STORAGE_KEY');
  });
});

const rest = (status: number, errorCode?: string, message = 'msg') =>
  Object.assign(new Error(message), { name: 'RestError', statusCode: status, details: { errorCode } });
const ctx = (phase: 'download' | 'upload') => ({ phase, op: 'op', target: 'az://a/c/k', where: 'http://x' });

describe('Azure errors map to the same exit codes as S3', () => {
  it.each([
    [404, 'BlobNotFound', 'download', EXIT.noInput],
    [404, undefined, 'download', EXIT.noInput],
    [404, 'ContainerNotFound', 'upload', EXIT.noInput],
    [403, 'AuthenticationFailed', 'download', EXIT.noPerm],
    [403, 'AuthorizationPermissionMismatch', 'upload', EXIT.noPerm],
    [403, undefined, 'download', EXIT.noPerm],
    [407, undefined, 'upload', EXIT.noPerm],
    [503, 'ServerBusy', 'download', EXIT.unavailable],
    [500, 'InternalError', 'upload', EXIT.unavailable],
    [400, 'Md5Mismatch', 'upload', EXIT.cantCreate],
  ] as const)('%i %s while %s → %i', (status, code, phase, exit) => {
    const e = classifyAzureError(rest(status, code), ctx(phase));
    expect(e).toBeInstanceOf(FerryError);
    expect(e.exitCode).toBe(exit);
    expect(e.target).toBe('az://a/c/k');
  });
  it('hints in Azure terms: the key or SAS, the role or SAS permissions', () => {
    const e = classifyAzureError(rest(403, undefined), ctx('upload'));
    expect(e.hint).toMatch(/AZURE_STORAGE_KEY/);
    expect(e.hint).toMatch(/Storage Blob Data Contributor/);
    expect(classifyAzureError(rest(404, 'ContainerNotFound'), ctx('download')).message).toContain('container');
  });
  it('a refused connection (the SDK wraps it with its code) is 69; a missing identity is 77', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
      name: 'RestError',
      code: 'ECONNREFUSED',
    });
    const e = classifyAzureError(refused, ctx('download'));
    expect(e.exitCode).toBe(EXIT.unavailable);
    expect(e.message).toContain('ECONNREFUSED');
    const noId = Object.assign(new Error('ManagedIdentityCredential: no managed identity endpoint'), {
      name: 'CredentialUnavailableError',
    });
    expect(classifyAzureError(noId, ctx('upload')).exitCode).toBe(EXIT.noPerm);
  });
});

describe('ferry policy for Azure', () => {
  it('asks rl on input containers, rwdl on the output container, with the built-in roles', () => {
    const access = buildAzureAccess(
      [parseUri('az://acct/inputs/case/', 'i'), parseUri('s3://bkt/other.zip', 'i')],
      parseUri('az://acct/results/out/case/', 'o'),
    );
    expect(access.map((a) => [a.container, a.sas_permissions, a.rbac_role, a.prefixes])).toEqual([
      ['inputs', 'rl', 'Storage Blob Data Reader', ['case/']],
      ['results', 'rwdl', 'Storage Blob Data Contributor', ['out/case/']],
    ]);
    const same = buildAzureAccess([parseUri('az://acct/data/in/', 'i')], parseUri('az://acct/data/out/', 'o'));
    expect(same).toHaveLength(1);
    expect(same[0]).toMatchObject({ sas_permissions: 'rwdl', for: ['inputs', 'output'] });
  });
});
