import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface GateProxy {
  url: string;
  /** How many requests matched the gate (the first waited for the hook). */
  matched: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of the S3 server that holds the first request whose head matches
 * `gate` (e.g. the first ranged GET of one object) until `hook` has run, then passes everything on:
 * the test acts at an exact moment of ferry's conversation with the server (replaces the object
 * between ferry's HEAD and its first GET). Requests are told apart by the bytes of each chunk the
 * client sends (a request head arrives in one chunk on loopback).
 */
export async function startGateProxy(
  target: string,
  gate: (head: string) => boolean,
  hook: () => Promise<void>,
): Promise<GateProxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let matched = 0;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const upstream = createConnection({ host: t.hostname, port: Number(t.port) });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    let chain = Promise.resolve();
    client.on('data', (d) => {
      const head = d.toString('latin1');
      if (/^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(head) && gate(head) && matched++ === 0) chain = chain.then(hook);
      chain = chain.then(() => void upstream.write(d));
    });
    upstream.on('data', (d) => client.write(d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get matched() {
      return matched;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
