import { Agent, createServer as createHttpServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { waitFor } from './net.ts';

/** One request the front passed on, in the order of the front's own events (`seq`). */
export interface Recorded {
  /** When it arrived, on the front's event counter (requests, answers and marks share it). */
  seq: number;
  method: string;
  /** The path with its query, as sent (path-style S3: /bucket/key?…; Azurite: /account/container/blob). */
  path: string;
  /** The first 4 KiB of a form body (STS and IAM calls: Action=…). */
  form?: string;
  /** Sent through the AWS SDK's middleware stack (it carries amz-sdk-invocation-id); false for ferry's direct PUTs. */
  sdk: boolean;
  /** The server's status, once it answered; 0 when the server could not be reached. */
  status?: number;
  /** When the answer had been passed on in full (on the same counter). */
  answered?: number;
}

export interface Hold {
  /** Settles with the request when it arrives (it then waits until `release`). */
  arrived: Promise<Recorded>;
  /** Waits until it arrives; throws at once if `alive` says the client has ended first. */
  wait(alive?: () => boolean): Promise<Recorded>;
  /** Passes the held request on (or, if it has not come yet, lets it through when it does). */
  release(): void;
}

export interface Recorder {
  url: string;
  requests: Recorded[];
  /** Holds the next request `match` accepts, before any byte of it reaches the server. */
  hold(match: (q: Recorded) => boolean): Hold;
  /** A point on the event counter (e.g. "the test opened the gate now"), to compare requests with. */
  mark(): number;
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** Headers to pass on: hop-by-hop ones dropped; `expect` too (never signed: the SDKs leave it out of SigV4). */
function headersOf(raw: string[], drop: Set<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!drop.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  return out;
}
const REQUEST_DROP = new Set([...HOP, 'expect']);

/**
 * An HTTP front of the suite's own on 127.0.0.1 before a server (Ceph RGW, Azurite): it passes every
 * request on as it came (the signature still holds: the Host header is the front's, as the client
 * signed it) and records what it saw and when it was answered, on one event counter, so a test can
 * prove an order from the requests themselves ("the manifest was answered before the log was sent").
 * It can hold a request until the test lets it go (the test then acts while the client waits), and
 * with `tls` it serves HTTPS with that certificate (a TLS-inspecting corporate proxy). An answer the
 * server cannot give (it is down) closes the client's connection, as a dead server would.
 */
export async function startRecorder(
  target: string,
  o: { tls?: { cert: string; key: string } } = {},
): Promise<Recorder> {
  const t = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const requests: Recorded[] = [];
  const holds: Array<{ match: (q: Recorded) => boolean; arrived: (q: Recorded) => void; released: Promise<void> }> = [];
  let seq = 0;

  const pass = async (req: IncomingMessage, res: ServerResponse) => {
    const sdk = req.headers['amz-sdk-invocation-id'] !== undefined;
    const q: Recorded = { seq: seq++, method: req.method ?? '', path: req.url ?? '', sdk };
    requests.push(q);
    const form = /x-www-form-urlencoded/.test(String(req.headers['content-type']));
    const i = holds.findIndex((h) => h.match(q));
    if (i >= 0) {
      const [h] = holds.splice(i, 1);
      h.arrived(q);
      await h.released;
    }
    const up = request({
      host: t.hostname,
      port: t.port,
      method: req.method,
      path: req.url,
      headers: headersOf(req.rawHeaders, REQUEST_DROP) as unknown as Record<string, string>,
      agent,
    });
    up.on('response', (r) => {
      q.status = r.statusCode ?? 0;
      res.writeHead(r.statusCode ?? 502, r.statusMessage, headersOf(r.rawHeaders, HOP));
      r.pipe(res);
      res.on('finish', () => (q.answered = seq++));
    });
    up.on('error', () => {
      q.status = 0;
      q.answered = seq++;
      req.socket.destroy();
    });
    if (form) req.on('data', (d: Buffer) => (q.form = ((q.form ?? '') + d.toString('latin1')).slice(0, 4096)));
    req.pipe(up);
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => void pass(req, res);
  const server: Server = o.tls
    ? createHttpsServer({ cert: readFileSync(o.tls.cert), key: readFileSync(o.tls.key) }, handler)
    : createHttpServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    hold(match) {
      let arrived!: (q: Recorded) => void;
      let release!: () => void;
      let came: Recorded | undefined;
      const got = new Promise<Recorded>((r) => (arrived = r)).then((q) => (came = q));
      const released = new Promise<void>((r) => (release = r));
      holds.push({ match, arrived, released });
      const wait = async (alive?: () => boolean) => {
        await waitFor('the request the front holds', () => came !== undefined, { alive, timeoutMs: 120_000 });
        return came!;
      };
      return { arrived: got, wait, release };
    },
    mark: () => seq++,
    close: () =>
      new Promise<void>((r) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        agent.destroy();
        server.close(() => r());
      }),
  };
}

/** The requests for one object (path-style: /bucket/key, or /account/container/blob on Azure), in order. */
export function requestsFor(rec: Recorder, container: string, key: string): Recorded[] {
  return rec.requests.filter((q) => q.path.split('?')[0] === `/${container}/${key}`);
}

/** The methods of the requests for one object, in order. */
export function methodsOn(rec: Recorder, container: string, key: string): string[] {
  return requestsFor(rec, container, key).map((q) => q.method);
}

/** Requests that change what the store holds (PUT, POST, DELETE: uploads, parts, commits, deletes). */
export const isWrite = (q: Recorded) => q.method === 'PUT' || q.method === 'POST' || q.method === 'DELETE';
