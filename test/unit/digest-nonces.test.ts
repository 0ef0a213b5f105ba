import { writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROXY_RETRY_HEADER, openNetwork, type Network } from '../../agent/net/index.ts';
import { tempDir } from '../helpers/ferry.ts';

// A proxy that checks Digest nonce counts as squid does: a count not above the last one seen for
// its nonce is a replay, the nonce is dropped and the answer is a 407 without stale=true (squid 5's
// authDigestNonceIsValid); a nonce is good for MAX_COUNT requests, then stale=true. New connections
// are read 30 ms late, and each request is checked 0 to 18 ms after it arrived (squid's helpers, its
// event loop): requests written in one order are checked in another, as squid did in CI, where two
// requests sharing a nonce looked like a replay.
const MAX_COUNT = 5;
const nonces = new Map<string, number>();
const seen = { replays: 0, stale: 0, ok: 0 };
let next = 0;
let i = 0;
let proxy: ReturnType<typeof createServer>;
let port = 0;

function challenge(res: ServerResponse, stale: boolean) {
  const nonce = `n${next++}`;
  nonces.set(nonce, 0);
  res.writeHead(407, {
    'Proxy-Authenticate': `Digest realm="r", nonce="${nonce}", qop="auth"${stale ? ', stale=true' : ''}`,
  });
  res.end();
}

function answer(req: IncomingMessage, res: ServerResponse) {
  const h = String(req.headers['proxy-authorization'] ?? '');
  const nonce = /nonce="([^"]+)"/.exec(h)?.[1];
  const nc = parseInt(/nc=([0-9a-f]+)/.exec(h)?.[1] ?? '0', 16);
  req.resume();
  req.on('end', () => setTimeout(() => check(res, nonce, nc, req.method), (i++ % 7) * 3));
}

function check(res: ServerResponse, nonce: string | undefined, nc: number, method?: string) {
  {
    if (!nonce) return challenge(res, false);
    const last = nonces.get(nonce);
    if (last === undefined || nc <= last) {
      if (last !== undefined) seen.replays++;
      nonces.delete(nonce);
      return challenge(res, false);
    }
    if (nc > MAX_COUNT) {
      seen.stale++;
      nonces.delete(nonce);
      return challenge(res, true);
    }
    nonces.set(nonce, nc);
    if (method === 'PUT') seen.ok++; // not the GET probes that open a connection while the scheme is unknown
    res.writeHead(200, { 'Content-Length': '2' });
    res.end('ok');
  }
}

let net: Network;
beforeAll(async () => {
  proxy = createServer(answer);
  proxy.on('connection', (s: Socket) => {
    s.pause();
    setTimeout(() => s.resume(), 30);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  port = (proxy.address() as AddressInfo).port;
  const dir = tempDir('digest-nonces');
  writeFileSync(join(dir, 'account'), 'cfd:pw\n', { mode: 0o600 });
  net = await openNetwork({
    proxy: `http://127.0.0.1:${port}`,
    authFile: join(dir, 'account'),
    env: {},
    maxSockets: 8,
    connectTimeoutMs: 5000,
    idleTimeoutMs: 5000,
    warn: () => {},
    info: () => {},
  });
});
afterAll(async () => {
  net.destroy();
  await new Promise<void>((r) => proxy.close(() => r()));
});

/** One PUT through the network's agent, sent again (as the stores do) while the agent learnt from a 407. */
async function put(i: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const q = request({ host: 'store.test', port: 80, method: 'PUT', path: `/b/k${i}`, agent: net.agents.httpAgent });
      q.on('response', resolve).on('error', reject);
      q.end(`body ${i}`);
    });
    res.resume();
    await new Promise((r) => res.on('end', r));
    if (res.statusCode !== 407 || !res.headers[PROXY_RETRY_HEADER] || attempt === 5) return res.statusCode ?? 0;
  }
}

describe('Digest through a proxy that refuses replayed nonce counts', () => {
  it('120 PUTs, 16 at a time over 8 connections: every one answered 200, no nonce count ever replayed', async () => {
    const statuses: number[] = [];
    let i = 0;
    const lane = async () => {
      while (i < 120) statuses.push(await put(i++));
    };
    await Promise.all(Array.from({ length: 16 }, lane));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(seen.replays).toBe(0);
    expect(seen.ok).toBe(120);
    expect(seen.stale).toBeGreaterThan(0); // the renewals were exercised too
  });
});
