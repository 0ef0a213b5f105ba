// The state one Network shares between its two agents: routes per origin, one ProxyAuth per
// proxy, proxies found dead, the CA list, and the last refusal (for messages).
import type { IncomingMessage } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { errnoCode } from '../errors.ts';
import { ProxyAuth, type Sent } from './auth.ts';
import { parseChallenges } from './challenge.ts';
import { fromProxyUrl, type ProxyCredentials } from './credentials.ts';
import { ProxiesUnreachable, ProxyAuthError } from './errors.ts';
import type { Pac } from './pac.ts';
import { DIRECT, isMetadataHost, pacRoutes, proxyFor, proxyRoute, type Route } from './route.ts';

type Env = Record<string, string | undefined>;

/**
 * Set on a 407 answer the agent has learnt from (the proxy's scheme, or a renewed Digest nonce):
 * sending the same request again will carry the right credentials. A store retries such a request.
 */
export const PROXY_RETRY_HEADER = 'x-ferry-proxy-retry';

const DIAL_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

export interface CoreOptions {
  explicit?: string;
  pac?: Pac;
  env: Env;
  creds?: ProxyCredentials;
  ca?: string[];
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  warn(msg: string): void;
}

export class NetCore {
  private readonly routeCache = new Map<string, Route[]>();
  private readonly auths = new Map<string, ProxyAuth>();
  private readonly dead = new Set<string>();
  private readonly warned = new Set<string>();
  lastRefusal?: ProxyAuthError;

  constructor(readonly o: CoreOptions) {}

  /** Looks up what the PAC needs to decide for `url` (its host's address), then decides. */
  async routesFor(url: URL): Promise<Route[]> {
    if (this.o.pac && !isMetadataHost(url.hostname)) await this.o.pac.resolve(url.hostname.replace(/^\[|\]$/g, ''));
    return this.routes(url);
  }

  /** The routes for `url`'s origin, in order (decided once per origin: a PAC sees scheme://host:port/). */
  routes(url: URL): Route[] {
    const origin = `${url.protocol}//${url.host}/`;
    let r = this.routeCache.get(origin);
    if (!r) {
      r = this.decide(url, origin);
      this.routeCache.set(origin, r);
    }
    return r;
  }

  private decide(url: URL, origin: string): Route[] {
    if (isMetadataHost(url.hostname)) return [DIRECT];
    if (this.o.explicit) return [proxyRoute(this.o.explicit)];
    if (this.o.pac) {
      const { routes, skipped } = pacRoutes(this.o.pac.find(origin, url.hostname.replace(/^\[|\]$/g, '')));
      for (const s of skipped)
        this.warnOnce(`the PAC file names '${s}', which ferry does not speak (PROXY and DIRECT only): skipped`);
      if (!routes.length) throw new ProxiesUnreachable(skipped, new Error('the PAC file named no PROXY or DIRECT'));
      return routes;
    }
    const env = proxyFor(origin, this.o.env);
    return env ? [proxyRoute(env)] : [DIRECT];
  }

  warnOnce(msg: string): void {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    this.o.warn(msg);
  }

  /** The authentication state of a proxy (credentials: --proxy-auth-file, else the proxy URL's). */
  authFor(route: Route & { direct: false }): ProxyAuth {
    let a = this.auths.get(route.label);
    if (!a) {
      a = new ProxyAuth(route.label, route.host, this.o.creds ?? fromProxyUrl(route.url));
      this.auths.set(route.label, a);
    }
    return a;
  }

  /** A TCP connection to host:port, within the connect timeout. */
  dial(host: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = tcpConnect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        s.destroy();
        reject(Object.assign(new Error(`connecting to ${host}:${port} timed out`), { code: 'ETIMEDOUT' }));
      }, this.o.connectTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        resolve(s);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      s.once('error', onError);
    });
  }

  /**
   * Tries the routes in order ("PROXY a; PROXY b; DIRECT"): a proxy that cannot be reached is
   * skipped (and remembered as dead for later connections); any other failure stops here.
   */
  async inOrder<T>(routes: Route[], fn: (r: Route) => Promise<T>): Promise<T> {
    const alive = routes.filter((r) => r.direct || !this.dead.has(r.label));
    const order = alive.length ? alive : routes;
    let last: unknown;
    for (const r of order) {
      try {
        const out = await fn(r);
        if (!r.direct) this.dead.delete(r.label);
        return out;
      } catch (err) {
        if (r.direct || !DIAL_ERRORS.has(errnoCode(err) ?? '')) throw err;
        this.dead.add(r.label);
        last = err;
      }
    }
    if (order.length === 1) throw last;
    throw new ProxiesUnreachable(
      order.map((r) => (r.direct ? 'DIRECT' : r.label)),
      last,
    );
  }

  /**
   * A 407 reached a request sent through a proxy (plain http). Learns the scheme or the new Digest
   * nonce and marks the answer for a retry; a refusal is kept for the error message. The
   * connection is not reused: a new one is authenticated (NTLM) or carries the new header.
   */
  on407(auth: ProxyAuth, res: IncomingMessage, sent: Sent): void {
    if (res.statusCode !== 407) return;
    const values: string[] = [];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
      if (res.rawHeaders[i].toLowerCase() === 'proxy-authenticate') values.push(res.rawHeaders[i + 1]);
    }
    try {
      auth.learn(parseChallenges(values), sent.sent, sent.nonce);
      res.headers[PROXY_RETRY_HEADER] = auth.proxy;
    } catch (err) {
      if (err instanceof ProxyAuthError) this.lastRefusal = err;
    }
    res.once('end', () => res.socket?.destroy());
  }
}
