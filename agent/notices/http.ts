// One request to a cloud's instance metadata service. Plain node:http, its own connection each time
// (agent: false): never through a proxy — the service is link-local, and a proxy would ask for it
// on the proxy's own host (the IMDS docs say to bypass proxies) — and no keep-alive to leak.
// Measured: Node 24 with NODE_USE_ENV_PROXY=1 sends the default agent's requests to HTTP_PROXY;
// with agent: false they go direct (Node 20 reads no proxy variable at all).
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface MetadataAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface MetadataRequest {
  method?: 'GET' | 'PUT';
  headers?: Record<string, string>;
  /** The whole exchange, connect to last byte. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Answers longer than this are cut off: metadata documents are small. */
const MAX_BODY = 1024 * 1024;

/**
 * Sends one request to `url` and reads the answer. Rejects on a connection failure, on `timeoutMs`
 * (a service that is not there often means packets dropped, not refused), or on `signal`.
 */
export function metadataRequest(url: URL, o: MetadataRequest): Promise<MetadataAnswer> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<MetadataAnswer>((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'GET', headers: o.headers, agent: false, signal: o.signal });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      res.once('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.end();
  });
}

/** A failure in a few words, for a log line. */
export function describeFailure(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !msg.includes(code) ? `${code}: ${msg}` : msg;
}
