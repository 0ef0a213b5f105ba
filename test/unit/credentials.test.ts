import { describe, expect, it } from 'vitest';
import { FerryError } from '../../agent/errors.ts';
import { readProfile } from '../../agent/s3/credentials.ts';
import { safeEntryPath } from '../../agent/zip/extract.ts';

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
  it('reads [default] and [profile NAME], including a nested s3 endpoint_url', () => {
    expect(readProfile(text, 'default', 'config').settings).toMatchObject({ accessKeyId: 'AKIADEFAULT', secretAccessKey: 's3cr3t', region: 'eu-west-1' });
    expect(readProfile(text, 'cfd', 'config').settings).toMatchObject({ accessKeyId: 'AKIACFD', endpointUrl: 'http://127.0.0.1:9000' });
  });
  it('names the profiles it found when the one asked for is missing', () => {
    expect(() => readProfile(text, 'prod', 'config')).toThrow(/profiles found: default, cfd/);
  });
});

describe('zip entry paths', () => {
  it('keeps ordinary relative paths', () => {
    expect(safeEntryPath('a.zip', 'case/inputs.in')).toBe('case/inputs.in');
    expect(safeEntryPath('a.zip', './x/./y')).toBe('x/y');
  });
  it.each(['../evil', 'a/../../evil', '/etc/passwd', 'C:\\evil', '..\\evil'])('refuses %s with exit 65', (name) => {
    try {
      safeEntryPath('a.zip', name);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).exitCode).toBe(65);
    }
  });
});
