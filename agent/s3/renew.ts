import type { S3Client } from '@aws-sdk/client-s3';
import { expiredStatic, REFRESH_CODES, type Identity } from './identity.ts';

/** Where the S3 client says what it did about credentials and the clock. */
export interface ClientNotes {
  info(msg: string): void;
  warn(msg: string): void;
}

/** The clock as the server sees it: server time − local time, from the last answer's Date header. */
export interface Clock {
  offsetMs?: number;
}

/** The skew from which the SDK corrects its clock and retries (240 s in @aws-sdk/core). */
const SKEW_MS = 240_000;

const codeOf = (err: unknown) => {
  const e = err as { Code?: string; name?: string };
  return e?.Code ?? e?.name ?? '';
};

/**
 * A request refused with ExpiredToken / InvalidToken / TokenRefreshRequired is sent once more with
 * fresh credentials (the whole request again, so that it is signed with them). Static session
 * credentials cannot be renewed: 77 naming where they came from and their expiry.
 */
export function renewOnExpiry(client: S3Client, id: Identity, notes?: ClientNotes): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const code = codeOf(err);
        if (!REFRESH_CODES.has(code)) throw err;
        if (!id.story.refreshable) {
          const exp = id.story.staticExpiry;
          const when = exp ? `expired at ${exp.toISOString()}` : 'has expired (no expiry was given with it)';
          throw expiredStatic(id.story, `${when}: the server answered ${code}`, err);
        }
        notes?.info(
          `the server refused the credentials (${code}) in ${context.commandName}: renewing them, retrying once`,
        );
        await id.invalidate();
        return next(args);
      }
    },
    { step: 'initialize', name: 'ferryRenewOnExpiry' },
  );
}

/**
 * The SDK corrects its clock from the server's Date when the server answers RequestTimeTooSkewed or a
 * signature-expired error, and retries. Says so, once per correction, and keeps the last offset seen
 * for `ferry check`.
 */
export function watchClock(client: S3Client, clock: Clock, notes?: ClientNotes): void {
  const config = client.config as { systemClockOffset?: number };
  let said = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      const seen = (headers?: Record<string, string>) => {
        const t = Date.parse(headers?.date ?? '');
        if (!Number.isNaN(t)) clock.offsetMs = t - Date.now();
      };
      try {
        const out = await next(args);
        seen((out.response as { headers?: Record<string, string> }).headers);
        return out;
      } catch (err) {
        seen((err as { $response?: { headers?: Record<string, string> } }).$response?.headers);
        throw err;
      }
    },
    { step: 'deserialize', name: 'ferryWatchClock', priority: 'low' },
  );
  // Outside the retries: the SDK's signer corrects systemClockOffset after a failed attempt.
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } finally {
        // The SDK samples the offset from every failed answer, and corrects (and retries) from 4 min on.
        const now = config.systemClockOffset ?? 0;
        if (Math.abs(now) >= SKEW_MS && Math.abs(now - said) >= SKEW_MS / 4) {
          said = now;
          const s = Math.round(Math.abs(now) / 1000);
          notes?.warn(
            `this node's clock is ${s} s ${now > 0 ? 'behind' : 'ahead of'} the server's (the Date of its ` +
              "answers): requests are now signed with the server's time (fix the clock: NTP)",
          );
        }
      }
    },
    { step: 'initialize', name: 'ferryClockSkew' },
  );
}
