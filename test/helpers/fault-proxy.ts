import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** What one TCP connection through the proxy does. */
export type Fault = 'pass' | 'reset' | 'slowdown' | 'hang' | 'expired';

export interface FaultProxy {
  url: string;
  /** Connections seen so far, by fault. */
  counts: Record<Fault, number>;
  close(): Promise<void>;
}

const SLOWDOWN =
  'HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: 113\r\n\r\n' +
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request ' +
  'rate.</Message></Error>';

const EXPIRED_BODY =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has ' +
  'expired.</Message></Error>';
/** What AWS S3 answers a request signed with expired session credentials. */
const EXPIRED =
  'HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nConnection: close\r\n' +
  `Content-Length: ${EXPIRED_BODY.length}\r\n\r\n${EXPIRED_BODY}`;

/**
 * A small TCP proxy on 127.0.0.1 in front of the S3 server: per connection (numbered from 0) it
 * passes traffic (with `latencyMs` added to every chunk), resets the connection once the client
 * has sent a request, answers 503 SlowDown or 400 ExpiredToken, or accepts and never answers. (To see
 * the requests that reach the server, or to hold one, put test/helpers/recorder.ts in front instead.)
 */
export async function startFaultProxy(target: string, plan: (n: number) => Fault, latencyMs = 0): Promise<FaultProxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  const counts: Record<Fault, number> = { pass: 0, reset: 0, slowdown: 0, hang: 0, expired: 0 };
  let n = 0;
  const delay = (fn: () => void) => (latencyMs > 0 ? setTimeout(fn, latencyMs) : fn());
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const fault = plan(n++);
    counts[fault]++;
    if (fault === 'hang') return;
    if (fault === 'reset') {
      client.once('data', () => client.resetAndDestroy());
      return;
    }
    if (fault === 'slowdown' || fault === 'expired') {
      client.once('data', () => client.end(fault === 'slowdown' ? SLOWDOWN : EXPIRED));
      return;
    }
    const upstream = createConnection({ host: t.hostname, port: Number(t.port) });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (d) => delay(() => upstream.write(d)));
    upstream.on('data', (d) => delay(() => client.write(d)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
