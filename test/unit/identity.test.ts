import { describe, expect, it } from 'vitest';
import { FerryError } from '../../agent/errors.ts';
import { profileKind } from '../../agent/s3/credentials.ts';
import { Identity, type CredentialStory } from '../../agent/s3/identity.ts';
import { stsEndpoint } from '../../agent/s3/sts.ts';

const ROLE: CredentialStory = { from: "profile 'cfd' in config", kind: 'assume role', refreshable: true };

/** A source that hands out numbered credentials lasting `life` ms from the fake clock's now. */
function source(clock: { t: number }, life: number) {
  const asked: Array<boolean | undefined> = [];
  const inner = async (o?: { forceRefresh?: boolean }) => {
    asked.push(o?.forceRefresh);
    const n = asked.length;
    return {
      accessKeyId: `AKID${n}`,
      secretAccessKey: `secret-${n}`,
      sessionToken: `token-${n}`,
      expiration: new Date(clock.t + life),
    };
  };
  return { inner, asked };
}

describe('Identity: ferry’s one cache of credentials', () => {
  it('hands out the same credentials until 5 min before a 1 h expiry, then fetches new ones (forced)', async () => {
    const clock = { t: 0 };
    const { inner, asked } = source(clock, 3600_000);
    const id = new Identity(
      inner,
      ROLE,
      () => {},
      () => clock.t,
    );
    expect((await id.get()).accessKeyId).toBe('AKID1');
    clock.t = 3600_000 - 300_001;
    expect((await id.get()).accessKeyId).toBe('AKID1');
    clock.t = 3600_000 - 299_000;
    expect((await id.get()).accessKeyId).toBe('AKID2');
    expect(asked).toEqual([undefined, true]);
  });

  it('renews short credentials after half their lifetime, not on every request', async () => {
    const clock = { t: 0 };
    const { inner, asked } = source(clock, 10_000);
    const id = new Identity(
      inner,
      ROLE,
      () => {},
      () => clock.t,
    );
    for (const t of [0, 1000, 4000, 4999]) {
      clock.t = t;
      expect((await id.get()).accessKeyId).toBe('AKID1');
    }
    clock.t = 5000;
    expect((await id.get()).accessKeyId).toBe('AKID2');
    expect(asked.length).toBe(2);
  });

  it('invalidate() fetches new credentials at once; concurrent callers share one fetch', async () => {
    const clock = { t: 0 };
    const { inner, asked } = source(clock, 3600_000);
    const id = new Identity(
      inner,
      ROLE,
      () => {},
      () => clock.t,
    );
    await id.get();
    const [a, b] = await Promise.all([id.invalidate(), id.get()]);
    expect(a.accessKeyId).toBe('AKID2');
    expect(b.accessKeyId).toBe('AKID2');
    expect(asked).toEqual([undefined, true]);
  });

  it('hands every secret it fetches to the masker, renewed ones too', async () => {
    const clock = { t: 0 };
    const masked: string[] = [];
    const id = new Identity(
      source(clock, 3600_000).inner,
      ROLE,
      (s) => masked.push(...s),
      () => clock.t,
    );
    await id.get();
    await id.invalidate();
    expect(masked).toEqual(['AKID1', 'secret-1', 'token-1', 'AKID2', 'secret-2', 'token-2']);
  });

  it('static session credentials past their expiry: 77 naming where they came from and when', async () => {
    const story: CredentialStory = {
      from: "profile 'default' in /job/config",
      kind: 'static keys with a session token',
      refreshable: false,
      staticExpiry: new Date('2026-11-26T10:00:00Z'),
    };
    const keys = { accessKeyId: 'AKID', secretAccessKey: 's', sessionToken: 't' };
    const id = new Identity(
      async () => keys,
      story,
      () => {},
      () => Date.parse('2026-11-26T10:30:00Z'),
    );
    const err = await id.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).exitCode).toBe(77);
    expect((err as FerryError).message).toBe(
      "the session token of profile 'default' in /job/config expired at 2026-11-26T10:00:00.000Z (30 min ago); " +
        'static credentials cannot be renewed',
    );
  });
});

describe('where STS calls go', () => {
  const S3 = 'http://127.0.0.1:7480';
  it('AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, then the profile, then the custom S3 endpoint', () => {
    expect(stsEndpoint(S3, 'http://p:1', { AWS_ENDPOINT_URL_STS: 'http://e:1', AWS_ENDPOINT_URL: 'http://g:1' })).toBe(
      'http://e:1',
    );
    expect(stsEndpoint(S3, 'http://p:1', { AWS_ENDPOINT_URL: 'http://g:1' })).toBe('http://g:1');
    expect(stsEndpoint(S3, 'http://p:1', {})).toBe('http://p:1');
    expect(stsEndpoint(S3, undefined, {})).toBe(S3);
    expect(stsEndpoint(undefined, undefined, {})).toBeUndefined();
  });
});

describe('profile kinds', () => {
  it('names the role, its source and the external id without its value', () => {
    const k = profileKind({ role_arn: 'arn:aws:iam::1:role/r', source_profile: 'base', external_id: 'x-secret-id' });
    expect(k).toEqual({
      kind: 'assume role arn:aws:iam::1:role/r (source_profile base, with an external id)',
      refreshable: true,
      role: 'arn:aws:iam::1:role/r',
    });
    expect(profileKind({ credential_process: '/bin/creds' }).kind).toBe('credential_process');
    expect(profileKind({ sso_session: 'corp' }).kind).toBe('SSO (token cache)');
    expect(profileKind({ aws_session_token: 't' })).toEqual({
      kind: 'static keys with a session token',
      refreshable: false,
    });
  });
});
