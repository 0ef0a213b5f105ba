// Which way a request goes: straight to its host, or through which proxies in which order. The
// decision is one for every store and every credential lookup: --proxy, else the PAC file, else
// HTTPS_PROXY / HTTP_PROXY / ALL_PROXY minus NO_PROXY. Instance metadata and container
// credential endpoints are always reached directly.
import { usageError } from '../errors.ts';

type Env = Record<string, string | undefined>;

export type Route = { direct: true } | { direct: false; host: string; port: number; url: URL; label: string };

export const DIRECT: Route = { direct: true };

/** EC2 instance metadata (IPv4, IPv6) and ECS/EKS container credentials: never through a proxy. */
const METADATA_HOSTS = new Set(['169.254.169.254', '169.254.170.2', '169.254.170.23', 'fd00:ec2::254', 'fd00:ec2::23']);

export const isMetadataHost = (host: string) => METADATA_HOSTS.has(host.replace(/^\[|\]$/g, '').toLowerCase());

/** A proxy URL with its password (if any) replaced, for logs and errors. */
export function redactProxy(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}:***@` : ''}${u.host}`;
  } catch {
    return '(unparseable proxy URL)';
  }
}

/** A proxy from --proxy or the environment (`http://[user:password@]host:port`, or just host:port). */
export function proxyRoute(text: string): Route {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw usageError(
      `the proxy '${redactProxy(text)}' is not a URL`,
      'write it as http://host:port (credentials in --proxy-auth-file, or http://USER:PASSWORD@host:port)',
    );
  }
  if (u.protocol !== 'http:') {
    throw usageError(
      `proxy scheme ${u.protocol} is not supported`,
      'use an http:// proxy URL (ferry speaks HTTP to the proxy, and TLS through it to https endpoints)',
    );
  }
  const port = Number(u.port || 80);
  return { direct: false, host: u.hostname.replace(/^\[|\]$/g, ''), port, url: u, label: `http://${u.host}` };
}

/**
 * A PAC answer ("PROXY a:1; PROXY b:2; DIRECT") as routes in order. Entries ferry cannot use
 * (SOCKS, HTTPS proxies) are left out; an empty answer means DIRECT.
 */
export function pacRoutes(answer: string): { routes: Route[]; skipped: string[] } {
  const routes: Route[] = [];
  const skipped: string[] = [];
  for (const entry of answer
    .split(';')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const [kind, where] = entry.split(/\s+/, 2);
    if (/^direct$/i.test(kind)) routes.push(DIRECT);
    else if (/^proxy$/i.test(kind) && where) routes.push(proxyRoute(`http://${where}`));
    else skipped.push(entry);
  }
  return { routes: routes.length || skipped.length ? routes : [DIRECT], skipped };
}

const envVar = (env: Env, name: string) => env[name.toLowerCase()] || env[name.toUpperCase()] || undefined;
const envVarName = (env: Env, name: string) =>
  [name.toLowerCase(), name.toUpperCase()].find((n) => env[n]) ?? undefined;

/**
 * The proxy for `url` from the environment, as curl and most tools read it: `https_proxy` /
 * `http_proxy` by scheme (either case), else `all_proxy`; none when NO_PROXY matches the host
 * (`*`, `host`, `.domain` or `domain` for its subdomains, optionally `:port`).
 */
export function proxyFor(url: string, env: Env): string | undefined {
  const name = proxyVarFor(url, env);
  return name ? env[name] : undefined;
}

/** The name of the variable proxyFor() takes the proxy from (`HTTPS_PROXY`, `http_proxy`…), if any. */
export function proxyVarFor(url: string, env: Env): string | undefined {
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
  return envVarName(env, `${u.protocol.slice(0, -1)}_proxy`) ?? envVarName(env, 'all_proxy');
}
