// The https agent: TLS straight to the host, or inside a CONNECT tunnel through the chosen proxy,
// authenticated on the tunnel's own connection (NTLM's three messages, then TLS on that socket).
import { Agent, type AgentConnectOpts } from 'agent-base';
import type { AgentOptions, ClientRequest } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { authenticated } from './auth.ts';
import type { NetCore } from './core.ts';
import { ackAnswerAtOnce } from './quick-ack.ts';

export const hostPort = (host: string, port: number) => `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;

export class TunnelAgent extends Agent {
  constructor(
    private readonly core: NetCore,
    opts: AgentOptions,
  ) {
    super(opts);
  }

  /**
   * This agent serves https only. agent-base otherwise tells by building an Error and reading its stack,
   * on every request (its \`protocol\` getter): measured 9% of ferry's CPU on 2,000 small PUTs.
   */
  override isSecureEndpoint(): boolean {
    return true;
  }

  addRequest(req: ClientRequest, opts: AgentConnectOpts): void {
    ackAnswerAtOnce(req);
    // @ts-expect-error addRequest() is not in @types/node's Agent
    super.addRequest(req, opts);
  }

  async connect(_req: ClientRequest, opts: AgentConnectOpts): Promise<Socket> {
    const host = String(opts.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(opts.port ?? 443);
    const target = hostPort(host, port);
    const { host: _h, port: _p, path: _path, ...rest } = opts as AgentConnectOpts & { path?: string };
    const tls: ConnectionOptions = {
      ...(rest as ConnectionOptions),
      ...(this.core.o.ca ? { ca: this.core.o.ca } : {}),
      ...(isIP(host) ? {} : { servername: host }),
    };
    const routes = await this.core.routesFor(new URL(`https://${target}/`));
    return this.core.inOrder(routes, async (route) => {
      if (route.direct) return tlsConnect({ ...tls, host, port });
      const auth = this.core.authFor(route);
      const { socket, answer } = await authenticated(auth, {
        open: () => this.core.dial(route.host, route.port),
        request: (authorization) =>
          `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n` +
          (authorization ? `Proxy-Authorization: ${authorization}\r\n` : '') +
          'Proxy-Connection: keep-alive\r\n\r\n',
        method: 'CONNECT',
        uri: target,
        timeoutMs: this.core.o.idleTimeoutMs,
      });
      if (answer.head.status !== 200) {
        socket.destroy();
        throw new Error(`the proxy ${route.label} answered HTTP ${answer.head.status} to CONNECT ${target}`);
      }
      return tlsConnect({ ...tls, socket });
    });
  }
}
