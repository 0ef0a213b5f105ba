import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProfileFile } from '../../agent/s3/credentials.ts';

describe('AWS config file', () => {
  const text = `# uploaded with the job
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = s3cr3t
region = eu-west-1

[profile cfd]
aws_access_key_id=AKIACFD
aws_secret_access_key=other
s3 =
  endpoint_url = http://127.0.0.1:9000
`;
  const file = join(mkdtempSync(join(tmpdir(), 'ferry-cfg-')), 'config');
  writeFileSync(file, text);
  it('reads [default] and [profile NAME], including a nested s3 endpoint_url', async () => {
    expect((await readProfileFile(file, 'default')).settings).toMatchObject({
      accessKeyId: 'AKIADEFAULT',
      secretAccessKey: 's3cr3t',
      region: 'eu-west-1',
    });
    expect((await readProfileFile(file, 'cfd')).settings).toMatchObject({
      accessKeyId: 'AKIACFD',
      endpointUrl: 'http://127.0.0.1:9000',
    });
  });
  it('reads a credentials-format [NAME] section too', async () => {
    const creds = join(mkdtempSync(join(tmpdir(), 'ferry-cfg-')), 'credentials');
    writeFileSync(creds, '[prod]\naws_access_key_id = AKIAPROD\naws_secret_access_key = p\n');
    expect((await readProfileFile(creds, 'prod')).settings).toMatchObject({
      accessKeyId: 'AKIAPROD',
      secretAccessKey: 'p',
    });
  });
  it('reads the endpoints of a services section (s3 and sts), and the expiry of static session keys', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'ferry-cfg-')), 'config');
    writeFileSync(
      f,
      '[profile ceph]\nservices = onprem\naws_session_token = t\n' +
        'aws_credential_expiration = 2026-11-26T15:00:00Z\n' +
        '[services onprem]\ns3 =\n  endpoint_url = http://s3.local:7480\n' +
        'sts =\n  endpoint_url = http://sts.local:7480\n',
    );
    expect((await readProfileFile(f, 'ceph')).settings).toMatchObject({
      endpointUrl: 'http://s3.local:7480',
      stsEndpointUrl: 'http://sts.local:7480',
      expiration: '2026-11-26T15:00:00Z',
    });
  });
  it('names the profiles it found when the one asked for is missing', async () => {
    await expect(readProfileFile(file, 'prod')).rejects.toThrow(/profiles found: default, cfd/);
  });
});
