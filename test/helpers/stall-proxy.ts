import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * What one connection does. `stall-body`: the answer's first `afterBytes` bytes (headers and part of
 * the body) reach the client, then nothing more, the connection open. `stall-upload`: the request's
 * first `afterBytes` bytes reach the server, then the proxy stops reading (the client's body stalls).
 */
export type Stall = 'pass' | 'stall-body' | 'stall-upload';

export interface StallProxy {
  url: string;
  /** Requests seen, by what they did. */
  counts: Record<Stall, number>;
  /** The head (request line and headers) of every request, in order. */
  heads: string[];
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of the S3 server that decides per request, from its line
 * ("GET /bucket/key?… HTTP/1.1") and how many requests came before, whether to pass it or stall it
 * half-way (requests on a kept-alive connection come one after the other).
 */
export async function startStallProxy(
  target: string,
  plan: (n: number, requestLine: string) => Stall,
  afterBytes = 32 * 1024,
): Promise<StallProxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  const counts: Record<Stall, number> = { pass: 0, 'stall-body': 0, 'stall-upload': 0 };
  let n = 0;
  const heads: string[] = [];
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const upstream = createConnection({ host: t.hostname, port: Number(t.port) });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    let mode: Stall = 'pass';
    let up = 0;
    let down = 0;
    client.on('data', (d: Buffer) => {
      const line = /^[A-Z]+ \S+ HTTP\/1\.[01]\r\n/.exec(d.toString('latin1', 0, Math.min(d.length, 2048)))?.[0];
      if (line && mode !== 'stall-upload') {
        // A new request on this connection: decide for it, count its bytes from here.
        const text = d.toString('latin1');
        heads.push(text.slice(0, text.indexOf('\r\n\r\n') + 1 || text.length));
        mode = plan(n++, line.trimEnd());
        counts[mode]++;
        up = 0;
        down = 0;
      }
      if (mode === 'stall-upload') {
        const room = afterBytes - up;
        up += d.length;
        if (room > 0) upstream.write(d.subarray(0, room));
        if (up >= afterBytes) client.pause(); // stop reading: the client's writes back up
        return;
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (mode !== 'stall-body') return void client.write(d);
      const room = afterBytes - down;
      down += d.length;
      if (room > 0) client.write(d.subarray(0, room));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    counts,
    heads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A plan that stalls the bodies of GETs of one object (a request line holding `path`) while `stall`
 * says so for the how-many-th such GET (from 0); everything else passes.
 */
export function stallGetsOf(path: string, stall: (n: number) => boolean): (n: number, line: string) => Stall {
  let gets = 0;
  return (_n, line) => (line.startsWith('GET ') && line.includes(path) && stall(gets++) ? 'stall-body' : 'pass');
}
