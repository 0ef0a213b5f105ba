// Network failures as every store's client sees them (Node's socket errors, TLS verification,
// transfers that break off): one place to recognise them, whatever SDK wrapped them.
import { errnoCode, EXIT } from '../errors.ts';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
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

const TLS_CODES = new RegExp(
  `^(${[
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'CERT_UNTRUSTED',
  ].join('|')})$`,
);

/** The TLS verification failure in an error's causes (an untrusted certificate), if any. */
export function tlsCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = errnoCode(e);
    if (code && TLS_CODES.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A failure of the network or of a transfer (resets, refused connections, timeouts, broken bodies). */
export function isNetworkFailure(err: unknown): boolean {
  if (err instanceof TransferError) return true;
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = errnoCode(e);
    if (code && NETWORK_CODES.has(code)) return true;
    const name = (e as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'RequestTimeout') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** A failure as a store's rules describe it: the error, the endpoint (and proxy) for messages, the SDK's words. */
interface NetFacts {
  err: unknown;
  where: string;
  detail: string;
}

/** An untrusted TLS certificate, said the same way for every store; undefined for other failures. */
export function untrustedCertificate(f: NetFacts): { says: string; exitCode: number; hint: string } | undefined {
  const tls = tlsCode(f.err);
  return !tls
    ? undefined
    : {
        says: `${f.where} presented a TLS certificate this machine does not trust (${tls})`,
        exitCode: EXIT.unavailable,
        hint: 'if a proxy inspects TLS, point AWS_CA_BUNDLE (or NODE_EXTRA_CA_CERTS) at its CA certificate (PEM)',
      };
}

/** A body that broke off or stalled past its retries, said the same way for every store. */
export function stalledTransfer(f: NetFacts): { says: string; exitCode: number; hint: string } | undefined {
  return !(f.err instanceof TransferError)
    ? undefined
    : {
        says: f.detail,
        exitCode: EXIT.unavailable,
        hint:
          'the network or the server stalls: check the link (and HTTPS_PROXY), raise --retries or --timeout, ' +
          'then re-run the same row',
      };
}
