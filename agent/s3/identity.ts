import type { AwsCredentialIdentity } from '@smithy/types';
import { EXIT, FerryError } from '../errors.ts';

/** How ferry got its AWS identity, for messages and `ferry check` (never a secret). */
export interface CredentialStory {
  /** "profile 'cfd' in config", "the environment", "the SDK's default chain". */
  from: string;
  /** "static keys", "assume role arn:… (source_profile base)", "credential_process", "SSO token cache"… */
  kind: string;
  /** The role a role profile assumes. */
  role?: string;
  /** Known expiry of static session credentials (aws_credential_expiration, AWS_CREDENTIAL_EXPIRATION). */
  staticExpiry?: Date;
  /** True when the credentials come from a source that can hand out new ones. */
  refreshable: boolean;
}

type Inner = (options?: { forceRefresh?: boolean }) => Promise<AwsCredentialIdentity>;

/** Error codes that mean "these credentials expired or were revoked": fetch new ones and retry once. */
export const REFRESH_CODES = new Set(['ExpiredToken', 'InvalidToken', 'TokenRefreshRequired']);

/** Credentials are renewed this long before they expire, at most half their lifetime (5 min, as the SDK). */
const EARLY_MS = 300_000;

/**
 * ferry's one cache of credentials, in front of the SDK's chain: it hands out the same credentials
 * until shortly before they expire (5 minutes, or half their lifetime for short ones: a
 * credential_process that gives 10 s is asked again after 5 s, not on every request), fetches new
 * ones when told that the server refused them (`invalidate`), masks every secret it ever handed out,
 * and refuses static session credentials whose known expiry has passed (they cannot be renewed).
 */
export class Identity {
  private current?: AwsCredentialIdentity;
  private renewAt = 0;
  private pending?: Promise<AwsCredentialIdentity>;
  /** How many times credentials were fetched (1 for static keys). */
  fetches = 0;

  constructor(
    private readonly inner: Inner,
    readonly story: CredentialStory,
    private readonly onSecrets: (secrets: string[]) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The provider the S3 client signs with: `memoized` tells the SDK not to put a cache of its own in front. */
  readonly provider = Object.assign(async () => this.get(), { memoized: true });

  async get(): Promise<AwsCredentialIdentity> {
    this.checkStaticExpiry();
    if (this.current && this.now() < this.renewAt) return this.current;
    return this.fetch(this.current !== undefined);
  }

  /** The server refused the current credentials as expired: the next request gets new ones. */
  async invalidate(): Promise<AwsCredentialIdentity> {
    this.renewAt = 0;
    return this.fetch(true);
  }

  /** When the credentials in use expire (undefined: they do not, as far as anyone said). */
  get expiresAt(): Date | undefined {
    return this.current?.expiration ?? this.story.staticExpiry;
  }

  private fetch(force: boolean): Promise<AwsCredentialIdentity> {
    this.pending ??= this.inner(force ? { forceRefresh: true } : undefined)
      .then((c) => {
        this.fetches++;
        this.onSecrets([c.accessKeyId, c.secretAccessKey, c.sessionToken].filter((v): v is string => !!v));
        this.current = c;
        const t = this.now();
        const exp = c.expiration?.getTime();
        this.renewAt = exp === undefined ? Infinity : exp - Math.min(EARLY_MS, Math.max(0, (exp - t) / 2));
        return c;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Static session credentials past their known expiry: 77 naming where they came from and when. */
  checkStaticExpiry(): void {
    const exp = this.story.staticExpiry;
    if (!exp || this.now() < exp.getTime()) return;
    throw expiredStatic(this.story, `expired at ${exp.toISOString()} (${ago(this.now() - exp.getTime())} ago)`);
  }
}

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

/** Static session credentials that the server (or their known expiry) says are over: nothing can renew them. */
export function expiredStatic(story: CredentialStory, how: string, cause?: unknown): FerryError {
  return new FerryError(`the session token of ${story.from} ${how}; static credentials cannot be renewed`, {
    phase: 'config',
    exitCode: EXIT.noPerm,
    cause,
    hint:
      'put fresh credentials in the file (aws sts assume-role, aws configure export-credentials), or give ferry a ' +
      'profile it can renew during a long run: role_arn + source_profile, credential_process, sso_*',
  });
}
