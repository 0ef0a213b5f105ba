// Watching for the cloud's notice that this machine is about to go (a spot interruption, an
// eviction). One probe of each metadata service at start, side by side with a short timeout: where
// there is none (no cloud, a cloud without one, a disabled one) nothing more is ever sent. Where one
// answers, it is polled until a notice, stop() or the signal.
import { setTimeout as sleep } from 'node:timers/promises';
import { AzureNotices, azureEndpoint } from './azure.ts';
import { Ec2Notices, ec2Endpoint } from './ec2.ts';
import { describeFailure } from './http.ts';
import type { Env, Notice, NoticeCloud, NoticeSource } from './source.ts';

export type { Notice, NoticeCloud } from './source.ts';

export interface WatchOptions {
  /** Where the endpoints and the switches are read (ferry's environment). */
  env: Env;
  signal: AbortSignal;
  /** Called once, with the first notice. */
  onNotice(n: Notice): void;
  log?: { info(msg: string): void; warn(msg: string): void };
  /** Between two looks (default 5 s, as AWS advises). */
  pollMs?: number;
  /** For each probe (default 1 s). */
  probeTimeoutMs?: number;
  /** For each look after the probe (default 5 s). */
  requestTimeoutMs?: number;
  /** The EC2 session token's lifetime asked for (default 6 h; renewed at half of it). */
  ec2TokenTtlSeconds?: number;
}

export interface NoticeWatch {
  /** Resolves once the probes are done: the cloud being watched, or undefined (nothing watched). */
  source: Promise<NoticeCloud | undefined>;
  /** Resolves with the notice, or undefined when the watch ended without one. */
  notice: Promise<Notice | undefined>;
  /** Ends the watch; resolves when no request is in flight any more. */
  stop(): Promise<void>;
}

const NAMES: Record<NoticeCloud, string> = { ec2: 'EC2 spot instance-action', azure: 'Azure Scheduled Events' };

/** The sources the environment allows (a bad endpoint variable is named in the log and skipped). */
function sources(o: WatchOptions): NoticeSource[] {
  const out: NoticeSource[] = [];
  const timeout = o.requestTimeoutMs ?? 5000;
  const make: Array<() => NoticeSource | undefined> = [
    () => {
      const url = ec2Endpoint(o.env);
      return url && new Ec2Notices(url, o.ec2TokenTtlSeconds ?? 21600, timeout);
    },
    () => {
      const url = azureEndpoint(o.env);
      return url && new AzureNotices(url, timeout);
    },
  ];
  for (const m of make) {
    try {
      const s = m();
      if (s) out.push(s);
    } catch (err) {
      o.log?.warn(`interruption notices: ${describeFailure(err)}; that cloud's notices are not watched`);
    }
  }
  return out;
}

/** The first source (EC2 before Azure) whose service answers its probe, or why none did. */
async function probe(all: NoticeSource[], o: WatchOptions, signal: AbortSignal): Promise<NoticeSource | string> {
  const why: string[] = [];
  const ok = await Promise.all(
    all.map((s, i) =>
      s.probe(o.probeTimeoutMs ?? 1000, signal).catch((err: unknown) => {
        why[i] = `${s.cloud}: ${describeFailure(err)}`;
        return false;
      }),
    ),
  );
  return all.find((_, i) => ok[i]) ?? (why.filter(Boolean).join('; ') || 'both are disabled');
}

async function poll(s: NoticeSource, o: WatchOptions, signal: AbortSignal): Promise<Notice | undefined> {
  let failing = false;
  while (!signal.aborted) {
    try {
      const n = await s.check(signal);
      if (failing) o.log?.info(`interruption notices: ${NAMES[s.cloud]} answers again`);
      failing = false;
      if (n) return n;
    } catch (err) {
      if (signal.aborted) break;
      if (!failing) o.log?.warn(`interruption notices: ${s.where} failed (${describeFailure(err)}); still looking`);
      failing = true;
    }
    await sleep(o.pollMs ?? 5000, undefined, { signal }).catch(() => undefined);
  }
  return undefined;
}

/**
 * Starts watching (see the top of this file); returns at once. Requests never go through a proxy.
 * EC2 is off with AWS_EC2_METADATA_DISABLED=true, Azure with FERRY_AZURE_METADATA_DISABLED=true;
 * the endpoints are AWS_EC2_METADATA_SERVICE_ENDPOINT (as the AWS SDKs read it) and
 * FERRY_AZURE_METADATA_ENDPOINT (default http://169.254.169.254 for both).
 */
export function watchNotices(o: WatchOptions): NoticeWatch {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  if (o.signal.aborted) ac.abort();
  let found: (s: NoticeCloud | undefined) => void = () => {};
  const source = new Promise<NoticeCloud | undefined>((r) => (found = r));
  const run = async (): Promise<Notice | undefined> => {
    const s = await probe(sources(o), o, ac.signal);
    found(ac.signal.aborted || typeof s === 'string' ? undefined : s.cloud);
    if (ac.signal.aborted) return undefined;
    if (typeof s === 'string') {
      o.log?.info(`interruption notices: no metadata service answered (${s}); not watching`);
      return undefined;
    }
    o.log?.info(`interruption notices: watching ${NAMES[s.cloud]} (${s.where}) every ${(o.pollMs ?? 5000) / 1000} s`);
    const n = await poll(s, o, ac.signal);
    if (!n || ac.signal.aborted) return undefined;
    o.log?.warn(`interruption notice from ${NAMES[n.cloud]}: ${n.action}${n.time ? ` at ${n.time}` : ''}`);
    try {
      o.onNotice(n);
    } catch (err) {
      o.log?.warn(`interruption notices: acting on the notice failed: ${describeFailure(err)}`);
    }
    return n;
  };
  const notice = run().finally(() => o.signal.removeEventListener('abort', onAbort));
  return {
    source,
    notice,
    stop: async () => {
      ac.abort();
      await notice;
    },
  };
}
