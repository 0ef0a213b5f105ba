// Azure Scheduled Events: GET /metadata/scheduledevents?api-version=2020-07-01 (header Metadata:
// true). A Preempt (spot eviction, at least 30 s ahead) or Terminate event naming this VM is a
// notice. Events reach every VM of an availability set or scale-set placement group, so the docs
// say to check `Resources`: it lists VM names, compared here with the instance metadata's
// compute.name (case-insensitively). The probe reads compute (answered at once on any Azure VM);
// the first Scheduled Events call may take up to two minutes (it enables the service), so that
// one gets a longer timeout.
import { metadataRequest } from './http.ts';
import { endpointUrl, type Env, type Notice, type NoticeSource } from './source.ts';

const COMPUTE_PATH = '/metadata/instance/compute?api-version=2021-02-01&format=json';
const EVENTS_PATH = '/metadata/scheduledevents?api-version=2020-07-01';
const HEADERS = { Metadata: 'true' };
/** The first Scheduled Events call: the docs warn of up to two minutes. */
const FIRST_CALL_MS = 130_000;
const ACTIONS = new Set(['preempt', 'terminate']);

/** FERRY_AZURE_METADATA_ENDPOINT, else http://169.254.169.254; undefined when FERRY_AZURE_METADATA_DISABLED is true. */
export function azureEndpoint(env: Env): URL | undefined {
  if (env.FERRY_AZURE_METADATA_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const given = env.FERRY_AZURE_METADATA_ENDPOINT?.trim();
  return given ? endpointUrl(given, 'FERRY_AZURE_METADATA_ENDPOINT') : new URL('http://169.254.169.254');
}

interface ScheduledEvent {
  EventId?: unknown;
  EventType?: unknown;
  Resources?: unknown;
  NotBefore?: unknown;
}

export class AzureNotices implements NoticeSource {
  readonly cloud = 'azure' as const;
  /** compute.name, lower-cased; undefined when the VM did not say (then every Preempt/Terminate counts). */
  private vm?: string;
  private first = true;

  constructor(
    readonly endpoint: URL,
    private readonly timeoutMs: number,
  ) {}

  get where(): string {
    return `${new URL(EVENTS_PATH, this.endpoint)}`;
  }

  async probe(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    const a = await metadataRequest(new URL(COMPUTE_PATH, this.endpoint), { headers: HEADERS, timeoutMs, signal });
    if (a.status !== 200) throw new Error(`compute metadata was answered ${a.status}`);
    const doc = JSON.parse(a.body) as { name?: unknown };
    this.vm = typeof doc.name === 'string' && doc.name ? doc.name.toLowerCase() : undefined;
    return true;
  }

  /** A Preempt or Terminate event for this VM (any VM when its name is unknown). */
  private mine(e: ScheduledEvent): boolean {
    if (typeof e.EventType !== 'string' || !ACTIONS.has(e.EventType.toLowerCase())) return false;
    if (this.vm === undefined) return true;
    return Array.isArray(e.Resources) && e.Resources.some((r) => typeof r === 'string' && r.toLowerCase() === this.vm);
  }

  async check(signal: AbortSignal): Promise<Notice | undefined> {
    const timeoutMs = this.first ? Math.max(FIRST_CALL_MS, this.timeoutMs) : this.timeoutMs;
    const a = await metadataRequest(new URL(EVENTS_PATH, this.endpoint), { headers: HEADERS, timeoutMs, signal });
    if (a.status !== 200) throw new Error(`scheduled events were answered ${a.status}`);
    this.first = false;
    const doc = JSON.parse(a.body) as { Events?: unknown };
    const events = Array.isArray(doc.Events) ? (doc.Events as ScheduledEvent[]) : [];
    const e = events.find((ev) => ev && typeof ev === 'object' && this.mine(ev));
    if (!e) return undefined;
    const time = typeof e.NotBefore === 'string' && !Number.isNaN(Date.parse(e.NotBefore)) ? e.NotBefore : undefined;
    return {
      cloud: 'azure',
      action: String(e.EventType),
      time,
      id: typeof e.EventId === 'string' ? e.EventId : undefined,
    };
  }
}
