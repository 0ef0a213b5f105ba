// Network decisions shared by every store: which proxy a URL goes through (--proxy, HTTP(S)_PROXY,
// NO_PROXY), the CA bundle, and the agents requests use. TODO(issue 17): replaced by its decision module.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { usageError } from '../errors.ts';

type Env = Record<string, string | undefined>;

export interface Agents {
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
  /** The proxy in use, without credentials (for messages), or undefined. */
  proxy?: string;
  /** The proxy password (decoded), to be masked wherever ferry writes. */
  password?: string;
}

/** A proxy URL with its password (if any) replaced, for logs and errors. */
export function redactProxy(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}:***@` : ''}${u.host}`;
  } catch {
    return '(unparseable proxy URL)';
  }
}

/**
 * The sockets ferry's S3 calls go through: direct, or through the HTTP(S) proxy from --proxy or
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case; the SDK itself reads none of them). Credentials
 * in the proxy URL are percent-decoded (user:p%40ss@host). A custom CA bundle (AWS_CA_BUNDLE) is
 * added to the public roots, for TLS-inspecting proxies; NODE_EXTRA_CA_CERTS works natively.
 */
export function makeAgents(endpoint: string, explicitProxy: string | undefined, sockets: number, env: Env): Agents {
  const proxy = explicitProxy ?? proxyFor(endpoint, env);
  let ca: string[] | undefined;
  if (env.AWS_CA_BUNDLE) {
    try {
      ca = [...rootCertificates, readFileSync(env.AWS_CA_BUNDLE, 'utf8')];
    } catch (err) {
      throw usageError(
        `cannot read AWS_CA_BUNDLE ${env.AWS_CA_BUNDLE}: ${(err as Error).message}`,
        'point AWS_CA_BUNDLE at a PEM file, or unset it',
      );
    }
  }
  const base = { keepAlive: true, maxSockets: sockets, ...(ca ? { ca } : {}) };
  if (!proxy) return { httpAgent: new HttpAgent(base), httpsAgent: new HttpsAgent(base) };
  let parsed: URL;
  try {
    parsed = new URL(proxy);
  } catch {
    throw usageError(
      `the proxy '${redactProxy(proxy)}' is not a URL`,
      'write it as http://USER:PASSWORD@host:port (percent-encode @ : and spaces in the password)',
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw usageError(`proxy scheme ${parsed.protocol} is not supported`, 'use an http:// or https:// proxy URL');
  }
  return {
    httpAgent: new HttpProxyAgent(proxy, base) as unknown as HttpAgent,
    httpsAgent: (ca ? new TunnelWithCa(proxy, base, ca) : new HttpsProxyAgent(proxy, base)) as unknown as HttpsAgent,
    proxy: redactProxy(proxy),
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
  };
}

/** https-proxy-agent does not pass the agent's `ca` to the TLS session it opens inside the tunnel. */
class TunnelWithCa extends HttpsProxyAgent<string> {
  constructor(
    proxy: string,
    opts: ConstructorParameters<typeof HttpsProxyAgent<string>>[1],
    private readonly trusted: string[],
  ) {
    super(proxy, opts);
  }

  override connect(
    req: Parameters<HttpsProxyAgent<string>['connect']>[0],
    opts: Parameters<HttpsProxyAgent<string>['connect']>[1],
  ) {
    return super.connect(req, { ...opts, ca: this.trusted } as typeof opts);
  }
}

const envVar = (env: Env, name: string) => env[name.toLowerCase()] || env[name.toUpperCase()] || undefined;

/**
 * The proxy for `url` from the environment, as curl and most tools read it: `https_proxy` /
 * `http_proxy` by scheme (either case), else `all_proxy`; none when NO_PROXY matches the host
 * (`*`, `host`, `.domain` or `domain` for its subdomains, optionally `:port`).
 */
export function proxyFor(url: string, env: Env): string | undefined {
  const u = new URL(url);
  const host = u.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  for (const raw of (envVar(env, 'no_proxy') ?? '').split(/[,\s]+/).filter(Boolean)) {
    if (raw === '*') return undefined;
    const m = /^(.*?)(?::(\d+))?$/.exec(raw.toLowerCase())!;
    if (m[2] && m[2] !== port) continue;
    const pat = m[1].replace(/^\*/, '').replace(/^\[|\]$/g, '');
    const bare = pat.replace(/^\./, '');
    if (host === bare || host.endsWith(`.${bare}`)) return undefined;
  }
  return envVar(env, `${u.protocol.slice(0, -1)}_proxy`) ?? envVar(env, 'all_proxy');
}
