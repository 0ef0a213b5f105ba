import { EXIT, FerryError, errnoCode, type Phase } from '../errors.ts';

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED',
]);
const AUTH_CODES = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired',
  'AllAccessDisabled', 'AccountProblem', 'InvalidClientTokenId',
]);

/**
 * A transfer that failed after the server's answer began: the body broke off or stalled past its
 * retries (`broken`), or held more bytes than asked for (`overrun`). Counted as a network failure.
 */
export class TransferError extends Error {
  constructor(
    readonly kind: 'broken' | 'overrun',
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'TransferError';
  }
}

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

const TLS_CODES = /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID|CERT_UNTRUSTED)$/;

function tlsCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = errnoCode(e);
    if (code && TLS_CODES.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  const c = sdkCode(err);
  return c === 'NoSuchKey' || c === 'NotFound' || c === 'NoSuchBucket' || httpStatus(err) === 404;
}

function isNetwork(err: unknown): boolean {
  if (err instanceof TransferError) return true;
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = errnoCode(e);
    if (code && NETWORK_CODES.has(code)) return true;
    const name = (e as SdkError).name;
    if (name === 'TimeoutError' || name === 'RequestTimeout') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Turns an SDK or network error into a FerryError that says what failed, on which bucket/key,
 * and what to do. `op` is the operation in words ("download", "upload", "list").
 */
export function classifyS3Error(err: unknown, ctx: { phase: Phase; op: string; target: string; endpoint?: string }): FerryError {
  if (err instanceof FerryError) return err;
  const code = sdkCode(err);
  const status = httpStatus(err);
  const detail = (err as SdkError | null)?.message ?? String(err);
  const base = { phase: ctx.phase, target: ctx.target, cause: err };
  const where = ctx.endpoint ?? 'the S3 endpoint';
  // Proxies report a refusal as 407 (squid), 401 (tinyproxy) or only in a message (some agents).
  if (status === 407 || (status === 401 && code !== 'Unauthorized') || (status === undefined && /\b407\b/.test(detail))) {
    return new FerryError(`${ctx.op} failed: the HTTP proxy refused our credentials (HTTP ${status ?? 407}; ${where})`, {
      ...base,
      exitCode: EXIT.noPerm,
      hint: 'put the proxy user and password in the proxy URL: HTTPS_PROXY=http://USER:PASSWORD@host:port (percent-encode special characters)',
    });
  }
  if (code === 'NoSuchBucket') {
    return new FerryError(`${ctx.op} failed: the bucket does not exist`, {
      ...base,
      exitCode: EXIT.noInput,
      hint: 'check the bucket name in the URI and that --endpoint/--region point at the server holding it',
    });
  }
  if (isNotFound(err)) {
    return new FerryError(`${ctx.op} failed: no such object`, {
      ...base,
      exitCode: ctx.phase === 'download' ? EXIT.noInput : EXIT.cantCreate,
      hint: 'check the key (keys are case-sensitive; a prefix must end with /)',
    });
  }
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || code === 'IllegalLocationConstraintException') {
    return new FerryError(`${ctx.op} failed: the bucket is in another region (${code})`, {
      ...base,
      exitCode: EXIT.noPerm,
      hint: 'pass --region with the bucket\'s region, or set region= in the AWS config file',
    });
  }
  if (code === 'CredentialsProviderError') {
    return new FerryError(`${ctx.op} failed: no AWS credentials found`, {
      ...base,
      exitCode: EXIT.noPerm,
      hint: 'pass --aws-config FILE (the config file uploaded with the job), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    });
  }
  if (AUTH_CODES.has(code) || status === 403) {
    // A HEAD answer has no body, so no error code: a wrong secret and a missing permission look alike.
    const bare = !AUTH_CODES.has(code);
    const may = ctx.phase === 'download'
      ? 'the credentials may not read this key, or the key does not exist and the policy lacks s3:ListBucket (S3 then answers 403, not 404)'
      : 'the credentials may not write here: the policy needs s3:PutObject (and multipart actions) on the output prefix';
    const hint =
      code === 'InvalidAccessKeyId'
        ? 'the access key id is unknown to this server: check aws_access_key_id in the config file and the endpoint'
        : code === 'SignatureDoesNotMatch'
          ? 'the secret key is wrong: check aws_secret_access_key in the config file (and that the clock is right)'
          : bare
            ? `two likely causes: the secret key is wrong (check aws_secret_access_key and the clock), or ${may}`
            : may;
    const what = bare ? `HTTP ${status ?? 403}, no error code in the answer` : code;
    return new FerryError(`${ctx.op} failed: access denied (${what})`, { ...base, exitCode: EXIT.noPerm, hint });
  }
  const tls = tlsCode(err);
  if (tls) {
    return new FerryError(`${ctx.op} failed: ${where} presented a TLS certificate this machine does not trust (${tls})`, {
      ...base,
      exitCode: EXIT.unavailable,
      hint: 'if a proxy inspects TLS, point AWS_CA_BUNDLE (or NODE_EXTRA_CA_CERTS) at its CA certificate (PEM)',
    });
  }
  if (err instanceof TransferError) {
    return new FerryError(`${ctx.op} failed: ${detail}`, {
      ...base,
      exitCode: EXIT.unavailable,
      hint: 'the network or the server stalls: check the link (and HTTPS_PROXY), raise --retries or --timeout, then re-run the same row',
    });
  }
  if (isNetwork(err) || (status !== undefined && status >= 500)) {
    return new FerryError(`${ctx.op} failed: ${where} did not answer after retries (${errnoCode(err) ?? code ?? status}: ${detail})`, {
      ...base,
      exitCode: EXIT.unavailable,
      hint: 'check --endpoint / AWS_ENDPOINT_URL, the network, and HTTPS_PROXY; then re-run the same row',
    });
  }
  return new FerryError(`${ctx.op} failed: ${code ? `${code}: ` : ''}${detail}`, {
    ...base,
    exitCode: ctx.phase === 'download' ? EXIT.unavailable : EXIT.cantCreate,
  });
}
