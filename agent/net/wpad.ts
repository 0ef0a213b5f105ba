// WPAD (`--proxy-pac auto`): the PAC file at http://wpad.<domain>/wpad.dat, for the machine's DNS
// domain and then each search domain of /etc/resolv.conf, each from its most specific name down to
// two labels (eng.corp.example → wpad.eng.corp.example, wpad.corp.example; never wpad.example, a
// name anyone on the internet could hold). The first URL that answers 200 is the PAC of the run.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { EXIT } from '../errors.ts';
import { PacError } from './errors.ts';

/** `--proxy-pac auto`: find the PAC file by WPAD. */
export const PAC_AUTO = 'auto';

/** Whether a --proxy-pac value names a local file (not a URL, not `auto`). */
export const isPacFile = (pac: string | undefined): pac is string =>
  pac !== undefined && pac !== PAC_AUTO && !/^[a-z]+:\/\//i.test(pac);

const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // no such file: nothing to learn from it
  }
};

/** The machine's DNS domain: from its host name when that is qualified, else its /etc/hosts line. */
export function machineDomain(host: string, hosts: string): string | undefined {
  const h = host.toLowerCase();
  if (h.includes('.')) return h.slice(h.indexOf('.') + 1);
  for (const line of hosts.split('\n')) {
    const names = line.replace(/#.*/, '').trim().split(/\s+/).slice(1);
    if (!names.some((n) => n.toLowerCase() === h)) continue;
    const fqdn = names.find((n) => n.toLowerCase().startsWith(`${h}.`));
    if (fqdn) return fqdn.toLowerCase().slice(h.length + 1);
  }
  return undefined;
}

/** The `domain` and `search` names of a resolv.conf, in order. */
export function searchDomains(resolvConf: string): string[] {
  const out: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const [key, ...names] = line
      .replace(/[#;].*/, '')
      .trim()
      .split(/\s+/);
    if (key === 'domain' || key === 'search') out.push(...names.map((n) => n.toLowerCase().replace(/\.$/, '')));
  }
  return out.filter(Boolean);
}

/** The WPAD URLs for these domains, most specific first, each once. */
export function wpadUrls(domains: string[]): string[] {
  const out: string[] = [];
  for (const d of domains) {
    const labels = d.split('.').filter(Boolean);
    for (let i = 0; labels.length - i >= 2; i++) out.push(`http://wpad.${labels.slice(i).join('.')}/wpad.dat`);
  }
  return [...new Set(out)];
}

/** This machine's WPAD URLs (host name, /etc/hosts, /etc/resolv.conf, as `ip netns exec` shows them). */
export function localWpadUrls(): string[] {
  const own = machineDomain(hostname(), read('/etc/hosts'));
  return wpadUrls([...(own ? [own] : []), ...searchDomains(read('/etc/resolv.conf'))]);
}

/**
 * Fetches each WPAD URL in turn (directly, as any PAC) and returns the first that answers, saying
 * which in the log; none → exit 69 naming every URL tried and why.
 */
export async function discoverPac(
  fetch: (url: string) => Promise<string>,
  info: (msg: string) => void,
  urls = localWpadUrls(),
): Promise<{ url: string; text: string }> {
  const failed: string[] = [];
  for (const url of urls) {
    try {
      const text = await fetch(url);
      info(`WPAD: the PAC file is ${url}${failed.length ? ` (not found first: ${failed.join(', ')})` : ''}`);
      return { url, text };
    } catch (err) {
      if (!(err instanceof PacError)) throw err;
      failed.push(`${url} (${err.message.replace(/^cannot fetch the PAC file \S+: /, '')})`);
    }
  }
  const where = urls.length
    ? `tried ${failed.join(', ')}`
    : 'this machine has no DNS domain (its host name, /etc/hosts and /etc/resolv.conf name none)';
  throw new PacError(
    `--proxy-pac auto: WPAD found no PAC file: ${where}`,
    EXIT.unavailable,
    "pass --proxy-pac with your site's PAC URL (or --proxy); WPAD looks for http://wpad.<domain>/wpad.dat " +
      'in the DNS domain of this machine and the search domains of /etc/resolv.conf',
  );
}
