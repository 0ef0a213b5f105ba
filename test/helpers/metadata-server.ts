// A stand-in for the clouds' instance metadata services on 127.0.0.1 (nothing may bind
// 169.254.169.254 here): EC2 IMDSv2 (a token required, honouring its TTL) and Azure's instance
// compute and Scheduled Events documents. Point ferry at it with AWS_EC2_METADATA_SERVICE_ENDPOINT
// and FERRY_AZURE_METADATA_ENDPOINT.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface AzureEvent {
  EventId: string;
  EventType: 'Freeze' | 'Reboot' | 'Redeploy' | 'Preempt' | 'Terminate';
  ResourceType: 'VirtualMachine';
  Resources: string[];
  EventStatus: 'Scheduled' | 'Started';
  NotBefore: string;
  Description: string;
  EventSource: 'Platform' | 'User';
  DurationInSeconds: number;
}

export interface MetadataServerOptions {
  /** The services it speaks (default both); others answer 404. */
  clouds?: Array<'ec2' | 'azure'>;
  /** Azure compute.name (default "ferry-vm-0"). */
  vmName?: string;
  /** Accept connections and never answer (a service that drops packets). */
  silent?: boolean;
}

export interface Seen {
  method: string;
  path: string;
  status: number;
}

export interface MetadataServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** EC2: the instance-action document from now on (undefined: 404 again; a string: that body). */
  ec2Notice(n: { action: string; time: string } | string | undefined): void;
  /** Azure: the Events of the Scheduled Events document from now on (DocumentIncarnation goes up). */
  azureEvents(events: AzureEvent[]): void;
  /** EC2: every token issued so far is refused from now on (as when it expired). */
  expireTokens(): void;
  /** Every request so far, in order (status 0: not answered, `silent`). */
  requests(): Seen[];
  /** How many requests came whose path starts with `prefix` (all when omitted). */
  count(prefix?: string): number;
  close(): Promise<void>;
}

/** An Azure event with the documented fields; `over` sets some. */
export function azureEvent(over: Partial<AzureEvent>): AzureEvent {
  return {
    EventId: randomUUID().toUpperCase(),
    EventType: 'Preempt',
    ResourceType: 'VirtualMachine',
    Resources: ['ferry-vm-0'],
    EventStatus: 'Scheduled',
    NotBefore: new Date(Date.now() + 30_000).toUTCString(),
    Description: 'Virtual machine is being preempted.',
    EventSource: 'Platform',
    DurationInSeconds: -1,
    ...over,
  };
}

interface State {
  o: MetadataServerOptions;
  tokens: Map<string, number>;
  notice?: { action: string; time: string } | string;
  events: AzureEvent[];
  incarnation: number;
}

function ec2(req: IncomingMessage, st: State): [number, string] {
  // IMDS refuses what came through a proxy.
  if (req.headers['x-forwarded-for']) return [403, 'Forbidden'];
  if (req.url === '/latest/api/token' && req.method === 'PUT') {
    const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return [400, 'Bad Request'];
    const token = randomUUID();
    st.tokens.set(token, Date.now() + ttl * 1000);
    return [200, token];
  }
  if (req.url?.startsWith('/latest/meta-data/') && req.method === 'GET') {
    const until = st.tokens.get(String(req.headers['x-aws-ec2-metadata-token']));
    if (until === undefined || Date.now() >= until) return [401, 'Unauthorized'];
    if (req.url === '/latest/meta-data/spot/instance-action' && st.notice)
      return [200, typeof st.notice === 'string' ? st.notice : JSON.stringify(st.notice)];
    return [404, 'Not Found'];
  }
  return [404, 'Not Found'];
}

function azure(req: IncomingMessage, st: State): [number, string] {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.headers.metadata !== 'true' || req.headers['x-forwarded-for']) return [400, '{"error":"Bad request"}'];
  if (!url.searchParams.get('api-version')) return [400, '{"error":"Bad request. api-version was not specified"}'];
  if (url.pathname === '/metadata/instance/compute') {
    const name = st.o.vmName ?? 'ferry-vm-0';
    const resourceId = `/subscriptions/0000/resourceGroups/ferry/providers/Microsoft.Compute/virtualMachines/${name}`;
    return [200, JSON.stringify({ name, resourceId, location: 'westeurope', vmId: randomUUID() })];
  }
  if (url.pathname === '/metadata/scheduledevents')
    return [200, JSON.stringify({ DocumentIncarnation: st.incarnation, Events: st.events })];
  return [404, '{"error":"Not found"}'];
}

/** Starts the stand-in on 127.0.0.1, on a free port. */
export async function startMetadataServer(o: MetadataServerOptions = {}): Promise<MetadataServer> {
  const st: State = { o, tokens: new Map(), events: [], incarnation: 1 };
  const clouds = o.clouds ?? ['ec2', 'azure'];
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const path = req.url ?? '/';
    if (o.silent) return void seen.push({ method: req.method ?? '?', path, status: 0 });
    const [status, body] =
      path.startsWith('/latest/') && clouds.includes('ec2')
        ? ec2(req, st)
        : path.startsWith('/metadata/') && clouds.includes('azure')
          ? azure(req, st)
          : [404, 'Not Found'];
    seen.push({ method: req.method ?? '?', path, status });
    res.writeHead(status, { 'content-type': body.startsWith('{') ? 'application/json' : 'text/plain' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    ec2Notice: (n) => void (st.notice = n),
    azureEvents: (events) => {
      st.events = events;
      st.incarnation++;
    },
    expireTokens: () => st.tokens.clear(),
    requests: () => [...seen],
    count: (prefix = '') => seen.filter((s) => s.path.startsWith(prefix)).length,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
