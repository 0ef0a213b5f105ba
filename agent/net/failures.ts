// Network failures as every store's client sees them (Node's socket errors, TLS verification,
// transfers that break off): one place to recognise them, whatever SDK wrapped them.
import { errnoCode } from '../errors.ts';

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
