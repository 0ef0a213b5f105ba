import { EXIT, FerryError, type Phase } from '../errors.ts';
import { TransferError } from '../net/failures.ts';
import type { ProxyAuthError } from '../net/index.ts';
import { classifyBy, storeRules, type Rule } from '../store/rules.ts';

export { TransferError };

const AUTH_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidClientTokenId',
]);

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

export function httpStatus(err: unknown): number | undefined {
  const e = err as SdkError | null;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

function sdkCode(err: unknown): string {
  const e = err as SdkError | null;
  return e?.Code ?? e?.name ?? '';
}

export function isNotFound(err: unknown): boolean {
  const c = sdkCode(err);
  return c === 'NoSuchKey' || c === 'NotFound' || c === 'NoSuchBucket' || httpStatus(err) === 404;
}

const REGION_CODES = new Set([
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
]);

const noBucket: Rule = (f) =>
  f.code !== 'NoSuchBucket'
    ? undefined
    : {
        says: 'the bucket does not exist',
        exitCode: EXIT.noInput,
        hint: 'check the bucket name in the URI and that --endpoint/--region point at the server holding it',
      };

const noObject: Rule = (f) =>
  !isNotFound(f.err)
    ? undefined
    : {
        says: 'no such object',
        exitCode: f.phase === 'download' ? EXIT.noInput : EXIT.cantCreate,
        hint: 'check the key (keys are case-sensitive; a prefix must end with /)',
      };

const otherRegion: Rule = (f) =>
  !REGION_CODES.has(f.code)
    ? undefined
    : {
        says: `the bucket is in another region (${f.code})`,
        exitCode: EXIT.noPerm,
        hint: "pass --region with the bucket's region, or set region= in the AWS config file",
      };

const noCredentials: Rule = (f) =>
  f.code !== 'CredentialsProviderError'
    ? undefined
    : {
        says: 'no AWS credentials found',
        exitCode: EXIT.noPerm,
        hint:
          'pass --aws-config FILE (the config file uploaded with the job), ' +
          'or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      };

/**
 * Access denied. A HEAD answer has no body, so no error code, and some servers answer a bad signature
 * with AccessDenied: wrong keys and a missing permission then look alike, so both are named.
 */
const denied: Rule = (f) => {
  if (!AUTH_CODES.has(f.code) && f.status !== 403) return undefined;
  const bare = !AUTH_CODES.has(f.code);
  const policy =
    f.phase === 'download'
      ? 'the credentials may not read this key (the policy lacks s3:GetObject, or the key does not exist and ' +
        'the policy lacks s3:ListBucket: S3 then answers 403, not 404)'
      : 'the credentials may not write here: the policy needs s3:PutObject (and the multipart actions) on the ' +
        'output prefix (ferry policy prints it)';
  const hints: Record<string, string> = {
    InvalidAccessKeyId:
      'the access key id is unknown to this server: check aws_access_key_id in the config file and the endpoint',
    SignatureDoesNotMatch:
      'the secret key is wrong: check aws_secret_access_key in the config file (and that the clock is right)',
  };
  const keys =
    "the secret key is wrong, or the key id is not this server's (check aws_secret_access_key and " +
    'aws_access_key_id in the config file, and the clock)';
  const what = bare ? `HTTP ${f.status ?? 403}, no error code in the answer` : f.code;
  const hint = hints[f.code] ?? `two likely causes: ${keys}; or ${policy}`;
  return { says: `access denied (${what})`, exitCode: EXIT.noPerm, hint };
};

/** In order, between the rules every store shares: the first that recognises the failure says what it is. */
const RULES = storeRules([noBucket, noObject, otherRegion, noCredentials, denied], {
  plain401IsProxy: true, // S3 refuses with 403: a 401 is a proxy's (tinyproxy)
  unreachableHint: 'check --endpoint / AWS_ENDPOINT_URL, the network, and HTTPS_PROXY; then re-run the same row',
});

/**
 * Turns an SDK or network error into a FerryError that says what failed, on which bucket/key,
 * and what to do. `op` is the operation in words ("reading the input object", "upload").
 */
export function classifyS3Error(
  err: unknown,
  ctx: { phase: Phase; op: string; target: string; endpoint?: string; proxyRefusal?: ProxyAuthError },
): FerryError {
  const f = {
    err,
    code: sdkCode(err),
    status: httpStatus(err),
    detail: (err as SdkError | null)?.message ?? String(err),
    phase: ctx.phase,
    where: ctx.endpoint ?? 'the S3 endpoint',
    refusal: ctx.proxyRefusal,
  };
  return classifyBy(RULES, f, ctx);
}
