import { createServer } from 'node:http';

export interface PacServer {
  /** http://127.0.0.1:PORT/proxy.pac */
  url: string;
  /** How many times the PAC was fetched. */
  hits(): number;
  close(): Promise<void>;
}

/** Serves `text` as /proxy.pac on 127.0.0.1, counting fetches. */
export async function servePac(text: string): Promise<PacServer> {
  let hits = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/proxy.pac') {
      res.writeHead(404).end();
      return;
    }
    hits++;
    res.writeHead(200, { 'content-type': 'application/x-ns-proxy-autoconfig' }).end(text);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/proxy.pac`,
    hits: () => hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
