import { createServer } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { watchNotices, type Notice, type WatchOptions } from '../../agent/notices/watch.ts';
import { azureEvent, startMetadataServer, type MetadataServer } from '../helpers/metadata-server.ts';

const POLL = 40;
const servers: MetadataServer[] = [];
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  for (const s of servers.splice(0)) await s.close();
});

async function server(o: Parameters<typeof startMetadataServer>[0] = {}): Promise<MetadataServer> {
  const s = await startMetadataServer(o);
  servers.push(s);
  return s;
}

/** Starts a watch against `env`; its notices and log lines are collected. */
function watch(env: WatchOptions['env'], more: Partial<WatchOptions> = {}) {
  const notices: Notice[] = [];
  const lines: string[] = [];
  const ac = new AbortController();
  const w = watchNotices({
    env,
    signal: ac.signal,
    onNotice: (n) => notices.push(n),
    log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) },
    pollMs: POLL,
    probeTimeoutMs: 300,
    requestTimeoutMs: 2000,
    ...more,
  });
  stops.push(w.stop);
  return { w, notices, lines, ac };
}

const ec2Only = (s: MetadataServer) => ({
  AWS_EC2_METADATA_SERVICE_ENDPOINT: s.url,
  FERRY_AZURE_METADATA_DISABLED: 'true',
});
const azureOnly = (s: MetadataServer) => ({ FERRY_AZURE_METADATA_ENDPOINT: s.url, AWS_EC2_METADATA_DISABLED: 'true' });
/** Long enough for several polls to have happened, were there polling. */
const afterPolls = () => new Promise((r) => setTimeout(r, POLL * 8));
const ACTION = '/latest/meta-data/spot/instance-action';

describe('watchNotices', () => {
  it('where no metadata service answers, sends nothing after the probe', async () => {
    const none = await server({ clouds: [] });
    const { w, notices, lines } = watch({
      AWS_EC2_METADATA_SERVICE_ENDPOINT: none.url,
      FERRY_AZURE_METADATA_ENDPOINT: none.url,
    });
    expect(await w.source).toBeUndefined();
    expect(await w.notice).toBeUndefined();
    expect(
      none
        .requests()
        .map((r) => `${r.method} ${r.path.split('?')[0]} ${r.status}`)
        .sort(),
    ).toEqual(['GET /metadata/instance/compute 404', 'PUT /latest/api/token 404']);
    await afterPolls();
    expect(none.count()).toBe(2);
    expect(notices).toEqual([]);
    expect(lines).toEqual([
      'info interruption notices: no metadata service answered (ec2: the token request was answered 404; ' +
        'azure: compute metadata was answered 404); not watching',
    ]);
  });

  it('gives up on a service that never answers after the probe timeout, and on a closed port', async () => {
    const silent = await server({ silent: true });
    const closed = await server();
    const port = closed.url;
    await closed.close();
    servers.pop();
    const { w } = watch({ AWS_EC2_METADATA_SERVICE_ENDPOINT: silent.url, FERRY_AZURE_METADATA_ENDPOINT: port });
    expect(await w.source).toBeUndefined();
    await afterPolls();
    expect(silent.count()).toBe(1);
  });

  it('sends nothing at all when both are disabled', async () => {
    const s = await server();
    const { w, lines } = watch({
      AWS_EC2_METADATA_SERVICE_ENDPOINT: s.url,
      AWS_EC2_METADATA_DISABLED: 'TRUE',
      FERRY_AZURE_METADATA_ENDPOINT: s.url,
      FERRY_AZURE_METADATA_DISABLED: 'true',
    });
    expect(await w.source).toBeUndefined();
    expect(s.count()).toBe(0);
    expect(lines[0]).toMatch(/both are disabled/);
  });

  it('EC2: the notice is seen by the first look after it is posted, then looking stops', async () => {
    const s = await server({ clouds: ['ec2'] });
    const { w, notices, lines } = watch(ec2Only(s));
    expect(await w.source).toBe('ec2');
    await vi.waitFor(() => expect(s.count(ACTION)).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 10 });
    const before = s.count(ACTION);
    s.ec2Notice({ action: 'terminate', time: '2026-12-01T10:00:00Z' });
    const n = await w.notice;
    expect(n).toEqual({ cloud: 'ec2', action: 'terminate', time: '2026-12-01T10:00:00Z' });
    expect(notices).toEqual([n]);
    expect(s.count(ACTION) - before).toBe(1);
    await afterPolls();
    expect(s.count(ACTION) - before).toBe(1);
    expect(s.count('/latest/api/token')).toBe(1);
    expect(lines.at(-1)).toBe(
      'warn interruption notice from EC2 spot instance-action: terminate at 2026-12-01T10:00:00Z',
    );
  });

  it('EC2: a 200 that is not an instance-action document is a failure, logged once, not a notice', async () => {
    const s = await server({ clouds: ['ec2'] });
    const { w, notices, lines } = watch(ec2Only(s));
    expect(await w.source).toBe('ec2');
    s.ec2Notice('<html>captive portal</html>');
    const at = s.count(ACTION);
    await vi.waitFor(() => expect(s.count(ACTION)).toBeGreaterThan(at + 3), { timeout: 10_000, interval: 10 });
    expect(notices).toEqual([]);
    expect(lines.filter((l) => l.startsWith('warn'))).toEqual([
      `warn interruption notices: ${s.url}${ACTION} failed (${ACTION} answered 200 without an action); still looking`,
    ]);
    s.ec2Notice({ action: 'terminate', time: 'soon' });
    expect(await w.notice).toEqual({ cloud: 'ec2', action: 'terminate', time: undefined });
    expect(lines).toContain('info interruption notices: EC2 spot instance-action answers again');
  });

  it('EC2: a refused token is replaced once and looking goes on; an old one is renewed before it expires', async () => {
    const s = await server({ clouds: ['ec2'] });
    const { w } = watch(ec2Only(s));
    expect(await w.source).toBe('ec2');
    await vi.waitFor(() => expect(s.count(ACTION)).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 10 });
    s.expireTokens();
    await vi.waitFor(() => expect(s.count('/latest/api/token')).toBe(2), { timeout: 10_000, interval: 10 });
    const refused = s.requests().filter((r) => r.status === 401).length;
    expect(refused).toBe(1);
    s.ec2Notice({ action: 'stop', time: '2026-12-01T10:00:00Z' });
    expect((await w.notice)?.action).toBe('stop');

    const t = await server({ clouds: ['ec2'] });
    const short = watch(ec2Only(t), { ec2TokenTtlSeconds: 2 });
    await vi.waitFor(() => expect(t.count('/latest/api/token')).toBe(3), { timeout: 10_000, interval: 20 });
    expect(t.requests().filter((r) => r.status === 401)).toEqual([]);
    await short.w.stop();
  });

  it('Azure: only a Preempt or Terminate event naming this VM is a notice', async () => {
    const s = await server({ clouds: ['azure'], vmName: 'vm-a' });
    const { w } = watch(azureOnly(s));
    expect(await w.source).toBe('azure');
    s.azureEvents([
      azureEvent({ EventType: 'Preempt', Resources: ['vm-b'] }),
      azureEvent({ EventType: 'Freeze', Resources: ['vm-a'] }),
      azureEvent({ EventType: 'Reboot', Resources: ['vm-a', 'vm-b'] }),
    ]);
    const seen = s.count('/metadata/scheduledevents');
    await vi.waitFor(() => expect(s.count('/metadata/scheduledevents')).toBeGreaterThan(seen + 3), {
      timeout: 10_000,
      interval: 10,
    });
    const mine = azureEvent({
      EventType: 'Terminate',
      Resources: ['vm-b', 'VM-A'],
      NotBefore: 'Mon, 19 Sep 2016 18:29:47 GMT',
    });
    s.azureEvents([azureEvent({ EventType: 'Preempt', Resources: ['vm-c'] }), mine]);
    expect(await w.notice).toEqual({
      cloud: 'azure',
      action: 'Terminate',
      time: 'Mon, 19 Sep 2016 18:29:47 GMT',
      id: mine.EventId,
    });
  });

  it('prefers EC2 when both answer, and polls only it', async () => {
    const s = await server();
    const { w } = watch({ AWS_EC2_METADATA_SERVICE_ENDPOINT: s.url, FERRY_AZURE_METADATA_ENDPOINT: s.url });
    expect(await w.source).toBe('ec2');
    await afterPolls();
    expect(s.count(ACTION)).toBeGreaterThan(1);
    expect(s.count('/metadata/scheduledevents')).toBe(0);
  });

  it('names a bad endpoint variable and watches the other cloud', async () => {
    const s = await server({ clouds: ['azure'] });
    const { w, lines } = watch({
      AWS_EC2_METADATA_SERVICE_ENDPOINT: '169.254.169.254',
      FERRY_AZURE_METADATA_ENDPOINT: s.url,
    });
    expect(await w.source).toBe('azure');
    expect(lines[0]).toBe(
      'warn interruption notices: AWS_EC2_METADATA_SERVICE_ENDPOINT=169.254.169.254 is not an http:// URL; ' +
        "that cloud's notices are not watched",
    );
  });

  it('never goes through a proxy, whatever the environment says', async () => {
    let proxied = 0;
    const proxy = createServer((_, res) => {
      proxied++;
      res.writeHead(502).end();
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const names = ['HTTP_PROXY', 'http_proxy', 'NODE_USE_ENV_PROXY'];
    const saved = names.map((k) => process.env[k]);
    Object.assign(process.env, { HTTP_PROXY: url, http_proxy: url, NODE_USE_ENV_PROXY: '1' });
    try {
      const s = await server({ clouds: ['ec2'] });
      const { w } = watch({ ...ec2Only(s), HTTP_PROXY: url, http_proxy: url });
      expect(await w.source).toBe('ec2');
      s.ec2Notice({ action: 'hibernate', time: '2026-12-01T10:00:00Z' });
      expect((await w.notice)?.action).toBe('hibernate');
      expect(proxied).toBe(0);
    } finally {
      names.forEach((k, i) => (saved[i] === undefined ? delete process.env[k] : (process.env[k] = saved[i])));
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('stops looking on its signal, and on stop()', async () => {
    const s = await server({ clouds: ['ec2'] });
    const { w, ac, notices } = watch(ec2Only(s));
    expect(await w.source).toBe('ec2');
    await vi.waitFor(() => expect(s.count(ACTION)).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 10 });
    ac.abort();
    expect(await w.notice).toBeUndefined();
    const at = s.count();
    s.ec2Notice({ action: 'terminate', time: '2026-12-01T10:00:00Z' });
    await afterPolls();
    expect(s.count()).toBe(at);
    expect(notices).toEqual([]);

    const t = await server({ clouds: ['ec2'] });
    const other = watch(ec2Only(t));
    await other.w.source;
    await other.w.stop();
    const then = t.count();
    await afterPolls();
    expect(t.count()).toBe(then);
  });
});
