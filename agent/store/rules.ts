// How every store turns its SDK's failures into FerryErrors, at its boundary: the facts both stores
// read off a failure, the rules they share (network, proxy account, TLS, stalls, unreachable), and
// the guard around each call. A store adds only the rules in its own words (bucket/container, object/
// blob, credentials) between the shared ones (agent/s3/errors.ts, agent/azure/errors.ts).
import { EXIT, FerryError, errnoCode, isAbort, saidByRules, type Phase, type Said } from '../errors.ts';
import { isNetworkFailure, stalledTransfer, untrustedCertificate } from '../net/failures.ts';
import { explainNetError, type ProxyAuthError } from '../net/index.ts';
import type { Call } from './store.ts';

/** What is known of a failure, for the rules. */
export interface StoreFacts {
  err: unknown;
  /** The store's error code (NoSuchKey, BlobNotFound), '' when there is none. */
  code: string;
  status?: number;
  detail: string;
  phase: Phase;
  /** The endpoint (and proxy) for messages. */
  where: string;
  /** What the network knows of the last 407 refusal: proxy, scheme, user. */
  refusal?: ProxyAuthError;
}

export type Rule = (f: StoreFacts) => Said | undefined;

/** Proxy and PAC failures, said the same way for every store (agent/net/). */
const network: Rule = (f) => explainNetError(f.err);

/**
 * The proxy refused the account: 407 (squid), or only in a message (some agents); `plain401` when a
 * bare 401 can only be the proxy's (tinyproxy's), as on S3 whose own refusals are 403.
 */
function proxyAuth(plain401: boolean): Rule {
  return (f) => {
    const refused =
      f.status === 407 ||
      (plain401 && f.status === 401 && f.code !== 'Unauthorized') ||
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
}

/** Nothing answered (refused, reset, timed out after retries) or only 5xx came back. */
function unreachable(hint: string): Rule {
  return (f) =>
    !isNetworkFailure(f.err) &&
    !(f.status !== undefined && f.status >= 500) &&
    errnoCode(f.err) !== 'REQUEST_SEND_ERROR'
      ? undefined
      : {
          says: `${f.where} did not answer after retries (${errnoCode(f.err) ?? (f.code || f.status)}: ${f.detail})`,
          exitCode: EXIT.unavailable,
          hint,
        };
}

/**
 * A store's rules, in order (the first that recognises the failure says what it is): the network and
 * the proxy first, then the store's own, then TLS, stalls and an unreachable endpoint.
 */
export function storeRules(own: Rule[], o: { plain401IsProxy: boolean; unreachableHint: string }): Rule[] {
  return [
    network,
    proxyAuth(o.plain401IsProxy),
    ...own,
    untrustedCertificate,
    stalledTransfer,
    unreachable(o.unreachableHint),
  ];
}

/** The FerryError for a failure: the first rule that knows it, else the SDK's own words. */
export function classifyBy(rules: Rule[], f: StoreFacts, ctx: { op: string; target: string }): FerryError {
  if (f.err instanceof FerryError) return f.err;
  const fallback: Said = {
    says: `${f.code ? `${f.code}: ` : ''}${f.detail}`,
    exitCode: f.phase === 'download' ? EXIT.unavailable : EXIT.cantCreate,
  };
  return saidByRules(f, rules, fallback, { ...ctx, phase: f.phase, cause: f.err });
}

/** Every store call: its failure classified once, here; a cancellation passes as it is. */
export async function guarded<T>(call: Call, fn: () => Promise<T>, classify: (err: unknown) => FerryError): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (call.signal?.aborted && isAbort(err)) throw err;
    throw classify(err);
  }
}
