// ferry's network decision, one for every store and every credential lookup. API:
//
//   const net = await openNetwork({ proxy, pac, authFile, env, maxSockets, connectTimeoutMs, idleTimeoutMs, warn });
//   new NodeHttpHandler({ ...net.agents })      // { httpAgent, httpsAgent }: route ANY URL, per request
//   await net.prepare(endpoint)                  // learn a plain-http proxy's scheme before the first request
//   net.describe(endpoint)                       // "through proxy http://host:port" for messages ('' if direct)
//   net.explain(endpoint)                        // ferry check: [route, proxy auth] lines (schemes, as whom)
//   net.secrets                                  // to mask: proxy password, NT hash
//   net.refusal()                                // the last 407 refusal (scheme, user, proxy) for messages
//   explainNetError(err)                         // proxy/PAC failures in a cause chain → {says, exitCode, hint}
//   PROXY_RETRY_HEADER                           // on a 407 the agent learnt from: retry the request
//
// Routes: --proxy, else the PAC (--proxy-pac / FERRY_PROXY_PAC, fetched once; `auto`: found by
// WPAD), else HTTP(S)_PROXY minus NO_PROXY; instance metadata and container credential endpoints
// always direct. Credentials: Negotiate with the user's Kerberos ticket when the proxy offers it,
// else --proxy-auth-file, else the chosen proxy URL's user:password. CA: AWS_CA_BUNDLE.
import { readFileSync } from 'node:fs';
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { usageError } from '../errors.ts';
import { NetCore } from './core.ts';
import { readAuthFile, type ProxyCredentials } from './credentials.ts';
import { ProxyAuthError } from './errors.ts';
import { ForwardAgent, probe } from './forward.ts';
import { ntHash } from './ntlm.ts';
import { loadPac, type Pac } from './pac.ts';
import { proxyRoute } from './route.ts';
import { TunnelAgent } from './tunnel.ts';
import { authenticated } from './auth.ts';
import { explainRoute } from './explain.ts';

export { PROXY_RETRY_HEADER } from './core.ts';
export { explainNetError, ProxyAuthError, PacError } from './errors.ts';
export { redactProxy, proxyFor } from './route.ts';

type Env = Record<string, string | undefined>;

export interface NetOptions {
  /** --proxy: one proxy for every URL (NO_PROXY does not apply to it). */
  proxy?: string;
  /** --proxy-pac or FERRY_PROXY_PAC: a path, an http(s) URL, or `auto` (WPAD). */
  pac?: string;
  /** --proxy-auth-file: user:password or DOMAIN\user:password, for whichever proxy is chosen. */
  authFile?: string;
  env: Env;
  maxSockets: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  warn(msg: string): void;
  info(msg: string): void;
}

export interface Network {
  /** NodeHttpHandler-compatible: give both to any HTTP client (S3, STS, SSO, another store). */
  readonly agents: { httpAgent: HttpAgent; httpsAgent: HttpsAgent };
  prepare(url: string): Promise<void>;
  describe(url: string): string;
  explain(url: string): Array<[string, string]>;
  readonly secrets: string[];
  refusal(): ProxyAuthError | undefined;
  destroy(): void;
}

function caList(env: Env): string[] | undefined {
  if (!env.AWS_CA_BUNDLE) return undefined;
  try {
    return [...rootCertificates, readFileSync(env.AWS_CA_BUNDLE, 'utf8')];
  } catch (err) {
    throw usageError(
      `cannot read AWS_CA_BUNDLE ${env.AWS_CA_BUNDLE}: ${(err as Error).message}`,
      'point AWS_CA_BUNDLE at a PEM file, or unset it',
    );
  }
}

function secretsOf(creds: ProxyCredentials | undefined, proxy: string | undefined): string[] {
  const out: string[] = [];
  const add = (c?: ProxyCredentials) => {
    if (!c?.password) return;
    const h = ntHash(c.password).toString('hex');
    out.push(c.password, h, h.toUpperCase());
  };
  add(creds);
  if (proxy) {
    const r = proxyRoute(proxy);
    if (!r.direct && r.url.password)
      add({ account: '', domain: '', user: '', password: decodeURIComponent(r.url.password) });
  }
  return out;
}

/** Opens the network of one command: reads the credentials, fetches and compiles the PAC (once). */
export async function openNetwork(o: NetOptions): Promise<Network> {
  if (o.proxy) proxyRoute(o.proxy); // a bad --proxy is a usage error before anything else
  const ca = caList(o.env);
  const creds = o.authFile ? readAuthFile(o.authFile, o.warn) : undefined;
  const pac: Pac | undefined =
    o.proxy || !o.pac ? undefined : await loadPac(o.pac, { ca, timeoutMs: o.connectTimeoutMs, info: o.info });
  const core = new NetCore({ ...o, explicit: o.proxy, pac, creds, ca });
  const base = { keepAlive: true, maxSockets: o.maxSockets };
  const httpAgent = new ForwardAgent(core, base) as unknown as HttpAgent;
  const httpsAgent = new TunnelAgent(core, base) as unknown as HttpsAgent;
  return {
    agents: { httpAgent, httpsAgent },
    prepare: (url) => prepare(core, url),
    describe: (url) => {
      const first = core.routes(new URL(url)).find((r) => !r.direct);
      return first && !first.direct ? `through proxy ${first.label}` : '';
    },
    explain: (url) => explainRoute(core, url),
    secrets: secretsOf(creds, o.proxy),
    refusal: () => core.lastRefusal,
    destroy: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/**
 * Decides the route for `url` (PAC lookups included) and, for a plain-http URL through a proxy
 * whose scheme is not known yet, asks the proxy once with a bodiless request, so that the first
 * real request already carries the right Proxy-Authorization. A proxy that ferry cannot
 * authenticate to (no ticket for its Negotiate, no account) is reported here; an unreachable one by
 * the first request.
 */
async function prepare(core: NetCore, url: string): Promise<void> {
  const u = new URL(url);
  const [first] = await core.routesFor(u);
  if (first.direct || u.protocol !== 'http:') return;
  const auth = core.authFor(first);
  if (auth.scheme || !auth.mayAnswer()) return;
  try {
    const { socket } = await authenticated(auth, probe(core, first, u.host));
    socket.destroy();
    auth.scheme ??= 'none';
  } catch (err) {
    if (err instanceof ProxyAuthError) throw err;
    // Unreachable, or a timeout: the first real request meets it again, with retries, and says so.
  }
}
