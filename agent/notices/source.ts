// What every cloud's notice source provides to the watcher (watch.ts).

export type Env = Record<string, string | undefined>;

export type NoticeCloud = 'ec2' | 'azure';

/** The cloud says this machine is about to be taken away. */
export interface Notice {
  cloud: NoticeCloud;
  /** As the cloud names it: EC2 terminate | stop | hibernate, Azure Preempt | Terminate. */
  action: string;
  /** When, as the cloud gave it (ISO 8601 for EC2, RFC 1123 for Azure), when it gave a readable one. */
  time?: string;
  /** Azure: the event's id. */
  id?: string;
}

export interface NoticeSource {
  readonly cloud: NoticeCloud;
  /** Where it looks, for log lines. */
  readonly where: string;
  /** Resolves true when the service answers as that cloud's would; rejects when it is not there. */
  probe(timeoutMs: number, signal: AbortSignal): Promise<boolean>;
  /** One look: the notice, or undefined when there is none yet. Rejects when the service fails. */
  check(signal: AbortSignal): Promise<Notice | undefined>;
}

/** A URL from an endpoint variable, or an Error naming the variable. */
export function endpointUrl(value: string, variable: string): URL {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // not a URL at all: said below
  }
  throw new Error(`${variable}=${value} is not an http:// URL`);
}
