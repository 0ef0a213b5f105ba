// What `ferry check` says about the way to one endpoint: the route and where it came from, and per
// proxy the schemes it offered, the one ferry answered with and as whom (never a secret).
import type { ProxyAuth } from './auth.ts';
import type { NetCore } from './core.ts';
import { proxyVarFor, type Route } from './route.ts';

const label = (r: Route) => (r.direct ? 'DIRECT' : r.label);

/** Where the route came from: --proxy, the PAC (or WPAD's PAC) and its URL, or the variable. */
function source(core: NetCore, url: URL): string {
  if (core.o.explicit) return '--proxy';
  if (core.o.pac) return `${core.o.pac.wpad ? 'WPAD' : 'PAC'} ${core.o.pac.source}`;
  return proxyVarFor(url.href, core.o.env) ?? '';
}

/** "offered Negotiate, Basic; answered with Negotiate as alice@CORP.EXAMPLE (…)". */
export function authStory(auth: ProxyAuth): string {
  const offered = auth.offered.length ? `offered ${auth.offered.join(', ')}` : '';
  if (auth.scheme === undefined)
    return offered ? `${offered}; not answered` : 'not asked yet (no request went through it)';
  if (auth.scheme === 'none') return 'asked for no authentication';
  const name = auth.scheme === 'ntlm' ? 'NTLM' : auth.scheme[0].toUpperCase() + auth.scheme.slice(1);
  const notes: string[] = [];
  if (auth.scheme === 'negotiate') {
    if (auth.ticket?.ok && auth.ticket.lifetime >= 0) notes.push(`ticket valid ${duration(auth.ticket.lifetime)} more`);
    notes.push(`mutual authentication: ${mutual(auth.mutual)}`);
  } else if (auth.ticket && !auth.ticket.ok) {
    notes.push(`not Negotiate: ${auth.ticket.kind === 'no-library' ? 'no GSSAPI library' : 'no Kerberos ticket'}`);
  }
  const who = auth.who();
  return `${offered}; answered with ${name}${who ? ` as ${who}` : ''}${notes.length ? ` (${notes.join('; ')})` : ''}`;
}

function mutual({ verified, missing }: ProxyAuth['mutual']): string {
  if (!missing) return verified ? 'verified' : 'not yet';
  return verified ? `verified on ${verified} of ${verified + missing} connections` : 'the proxy sent no final token';
}

function duration(s: number): string {
  if (s < 120) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : `${m} min`;
}

/** [what, text] lines: the route, and for each proxy on it what it asked and how ferry answered. */
export function explainRoute(core: NetCore, url: string): Array<[string, string]> {
  const u = new URL(url);
  const routes = core.routes(u);
  const from = source(core, u);
  const proxies = routes.filter((r): r is Route & { direct: false } => !r.direct);
  const way = proxies.length ? `through proxy ${routes.map(label).join(', else ')}` : 'direct';
  const lines: Array<[string, string]> = [['route', from && (proxies.length || core.o.pac) ? `${way} (${from})` : way]];
  for (const p of proxies) {
    const story = authStory(core.authFor(p));
    lines.push(['proxy auth', proxies.length > 1 ? `${p.label}: ${story}` : story]);
  }
  return lines;
}
