import { EXIT, FerryError, errnoCode, saidByRules, type Phase, type Said } from '../errors.ts';
import {
  isNetworkFailure as isNetwork,
  stalledTransfer,
  TransferError,
  untrustedCertificate,
} from '../net/failures.ts';
import { explainNetError, type ProxyAuthError } from '../net/index.ts';

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

/** What is known of a failure, for the rules below. */
interface Facts {
  err: unknown;
  code: string;
  status?: number;
  detail: string;
  phase: Phase;
  /** The endpoint (and proxy) for messages. */
  where: string;
  /** What the network knows of the last 407 refusal: proxy, scheme, user. */
  refusal?: ProxyAuthError;
}

type Rule = (f: Facts) => Said | undefined;

const REGION_CODES = new Set([
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
]);

/** Proxy and PAC failures, said the same way for every store (agent/net/). */
const network: Rule = (f) => explainNetError(f.err);

/** Proxies report a refusal as 407 (squid), 401 (tinyproxy) or only in a message (some agents). */
const proxyAuth: Rule = (f) => {
  const refused =
    f.status === 407 ||
    (f.status === 401 && f.code !== 'Unauthorized') ||
    (f.status === undefined && /\b407\b/.test(f.detail));
  if (!refused) return undefined;
  if (f.status === 407 && f.refusal) return { says: f.refusal.message, exitCode: EXIT.noPerm, hint: f.refusal.hint };
  return {
    says: `the HTTP proxy refused our credentials (HTTP ${f.status ?? 407}; ${f.where})`,
    exitCode: EXIT.noPerm,
    hint:
      'check the proxy account in --proxy-auth-file (user:password or DOMAIN\\user:password), or the ' +
      'user:password in the proxy URL (percent-encode special characters)',
  };
};

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

/** A HEAD answer has no body, so no error code: a wrong secret and a missing permission look alike. */
const denied: Rule = (f) => {
  if (!AUTH_CODES.has(f.code) && f.status !== 403) return undefined;
  const bare = !AUTH_CODES.has(f.code);
  const may =
    f.phase === 'download'
      ? 'the credentials may not read this key, or the key does not exist and the policy lacks s3:ListBucket ' +
        '(S3 then answers 403, not 404)'
      : 'the credentials may not write here: the policy needs s3:PutObject (and multipart actions) ' +
        'on the output prefix';
  const hints: Record<string, string> = {
    InvalidAccessKeyId:
      'the access key id is unknown to this server: check aws_access_key_id in the config file and the endpoint',
    SignatureDoesNotMatch:
      'the secret key is wrong: check aws_secret_access_key in the config file (and that the clock is right)',
  };
  const both = `two likely causes: the secret key is wrong (check aws_secret_access_key and the clock), or ${may}`;
  const what = bare ? `HTTP ${f.status ?? 403}, no error code in the answer` : f.code;
  return { says: `access denied (${what})`, exitCode: EXIT.noPerm, hint: hints[f.code] ?? (bare ? both : may) };
};

const unreachable: Rule = (f) =>
  !isNetwork(f.err) && !(f.status !== undefined && f.status >= 500)
    ? undefined
    : {
        says: `${f.where} did not answer after retries (${errnoCode(f.err) ?? f.code ?? f.status}: ${f.detail})`,
        exitCode: EXIT.unavailable,
        hint: 'check --endpoint / AWS_ENDPOINT_URL, the network, and HTTPS_PROXY; then re-run the same row',
      };

/** In order: the first rule that recognises the failure says what it is. */
const RULES: Rule[] = [
  network,
  proxyAuth,
  noBucket,
  noObject,
  otherRegion,
  noCredentials,
  denied,
  untrustedCertificate,
  stalledTransfer,
  unreachable,
];

/**
 * Turns an SDK or network error into a FerryError that says what failed, on which bucket/key,
 * and what to do. `op` is the operation in words ("reading the input object", "upload").
 */
export function classifyS3Error(
  err: unknown,
  ctx: { phase: Phase; op: string; target: string; endpoint?: string; proxyRefusal?: ProxyAuthError },
): FerryError {
  if (err instanceof FerryError) return err;
  const code = sdkCode(err);
  const detail = (err as SdkError | null)?.message ?? String(err);
  const facts: Facts = {
    err,
    code,
    status: httpStatus(err),
    detail,
    phase: ctx.phase,
    where: ctx.endpoint ?? 'the S3 endpoint',
    refusal: ctx.proxyRefusal,
  };
  const fallback: Said = {
    says: `${code ? `${code}: ` : ''}${detail}`,
    exitCode: ctx.phase === 'download' ? EXIT.unavailable : EXIT.cantCreate,
  };
  return saidByRules(facts, RULES, fallback, { ...ctx, cause: err });
}
