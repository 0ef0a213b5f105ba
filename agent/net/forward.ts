// The http agent: plain-http requests straight to the host, or forwarded by the chosen proxy
// (absolute request target). Basic and Digest go in each request's Proxy-Authorization; NTLM and
// Negotiate authenticate each new connection first, with a GET of the host's root as its carrier.
import { Agent, type AgentConnectOpts } from 'agent-base';
import type { AgentOptions, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { authenticated, connectionScheme } from './auth.ts';
import type { Exchange } from './wire.ts';
import type { NetCore } from './core.ts';
import { ackAnswerAtOnce } from './quick-ack.ts';
import { DIRECT, type Route } from './route.ts';
import { hostPort } from './tunnel.ts';

/**
 * A request that carries a handshake to a proxy for plain-http `target`: GET of its root, whose
 * answer is read to its end. (Not HEAD: Ceph RGW 16 answers HEAD / with a chunked body, which desynchronised
 * squid's connection to it — measured.)
 */
export function probe(core: NetCore, route: Route & { direct: false }, target: string): Exchange {
  return {
    open: () => core.dial(route.host, route.port),
    request: (authorization) =>
      `GET http://${target}/ HTTP/1.1\r\nHost: ${target}\r\n` +
      (authorization ? `Proxy-Authorization: ${authorization}\r\n` : '') +
      'Proxy-Connection: keep-alive\r\n\r\n',
    method: 'GET',
    uri: `http://${target}/`,
    timeoutMs: core.o.idleTimeoutMs,
  };
}

export class ForwardAgent extends Agent {
  private readonly routesOf = new WeakMap<ClientRequest, Route[]>();

  constructor(
    private readonly core: NetCore,
    opts: AgentOptions,
  ) {
    super(opts);
  }

  /**
   * This agent serves plain http only. agent-base otherwise tells by building an Error and reading its stack,
   * on every request (its \`protocol\` getter): measured 9% of ferry's CPU on 2,000 small PUTs.
   */
  override isSecureEndpoint(): boolean {
    return false;
  }

  addRequest(req: ClientRequest, opts: AgentConnectOpts): void {
    const host = String(opts.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const target = hostPort(host, Number(opts.port ?? 80));
    const routes = this.core.routes(new URL(`http://${target}/`));
    this.routesOf.set(req, routes);
    const first = routes[0];
    if (!first.direct) {
      req.path = `http://${target}${req.path}`;
      const auth = this.core.authFor(first);
      const sent = auth.sending(req.method, req.path);
      if (sent.authorization) req.setHeader('Proxy-Authorization', sent.authorization);
      req.prependListener('response', (res) => {
        auth.answered(sent, res.statusCode);
        this.core.on407(auth, res, sent);
      });
      req.once('close', () => auth.answered(sent, undefined)); // after an answer, a no-op
    }
    ackAnswerAtOnce(req);
    // @ts-expect-error addRequest() is not in @types/node's Agent
    super.addRequest(req, opts);
  }

  async connect(req: ClientRequest, opts: AgentConnectOpts): Promise<Socket> {
    const host = String(opts.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(opts.port ?? 80);
    const target = hostPort(host, port);
    return this.core.inOrder(this.routesOf.get(req) ?? [DIRECT], async (route) => {
      if (route.direct) return this.core.dial(host, port);
      const auth = this.core.authFor(route);
      const known = auth.scheme !== undefined && !connectionScheme(auth.scheme);
      if (known || (!auth.scheme && !auth.mayAnswer())) return this.core.dial(route.host, route.port);
      // NTLM or Negotiate, or a scheme not learnt yet: authenticate this connection before the request uses it.
      const { socket, answer } = await authenticated(auth, probe(this.core, route, target));
      auth.scheme ??= 'none';
      if (answer.reusable) return socket;
      socket.destroy();
      return this.core.dial(route.host, route.port);
    });
  }
}
