import { resolve } from 'node:path';
import type { Args } from '../flags/parse.ts';
import { count, secs, text } from '../flags/flag.ts';
import type { FlagGroup } from '../flags/help.ts';
import { isPacFile, PAC_AUTO } from '../net/wpad.ts';
import { jobFile } from './job-file.ts';
import type { Env } from './values.ts';

/** How ferry reaches its stores: which proxy, by which PAC file, with which proxy account. */
export interface NetSettings {
  /** --proxy: one proxy for every URL (else the PAC, else HTTPS_PROXY/HTTP_PROXY minus NO_PROXY). */
  proxy?: string;
  /** --proxy-pac, else FERRY_PROXY_PAC: a path or an http(s) URL of a PAC file, or `auto` (WPAD). */
  pac?: string;
  /** --proxy-auth-file (absolute): user:password or DOMAIN\user:password for whichever proxy is chosen. */
  authFile?: string;
}

export const PROXY = text('proxy', {
  arg: 'URL',
  help:
    'HTTP proxy for every request, http://host:port (default: the PAC file,\n' +
    'else HTTPS_PROXY / HTTP_PROXY minus NO_PROXY)',
});
export const PROXY_PAC = text('proxy-pac', {
  arg: 'URL|FILE|auto',
  help:
    'PAC file choosing the proxy per host (default: env FERRY_PROXY_PAC);\n' +
    'fetched once, run in a sandbox; PROXY a; PROXY b; DIRECT in order;\n' +
    "auto: found by WPAD (http://wpad.<domain>/wpad.dat, this machine's DNS\n" +
    'domain, then the search domains of /etc/resolv.conf)',
});
export const PROXY_AUTH_FILE = text('proxy-auth-file', {
  arg: 'FILE',
  help:
    'the proxy account, one line user:password or DOMAIN\\user:password, for\n' +
    'whichever proxy is chosen (Basic, Digest or NTLMv2, the strongest offered;\n' +
    'keep it chmod 600). Without it: http://USER:PASSWORD@host:port in the URL.\n' +
    "Negotiate needs none: the user's Kerberos ticket (kinit, KRB5CCNAME, SSSD)",
});
export const RETRIES = count('retries', {
  dflt: 5,
  max: 100,
  help:
    'attempts per request, including the first (default 5; exponential\n' +
    'backoff with jitter on throttling, 5xx, resets and timeouts)',
});
export const TIMEOUT = secs('timeout', {
  dflt: 120,
  help:
    'a request with no byte in either direction for this long is abandoned\n' +
    'and retried; a download resumes where it stopped (default 120)',
});

/** The network of every store: one route, one proxy account, the same retries and idle timeout. */
export const NET_FLAGS: FlagGroup = {
  title: 'Network options (every store)',
  flags: [PROXY, PROXY_PAC, PROXY_AUTH_FILE, RETRIES, TIMEOUT],
};

export { isPacFile, PAC_AUTO };

export function netSettings(p: Args, env: Env, cwd: string): NetSettings {
  const given = p.get(PROXY_PAC) ?? (env.FERRY_PROXY_PAC || undefined);
  const pac = given?.toLowerCase() === PAC_AUTO ? PAC_AUTO : given; // a file named auto: ./auto
  return Object.freeze({
    proxy: p.get(PROXY),
    pac: isPacFile(pac) ? resolve(cwd, pac) : pac,
    authFile: jobFile(p.get(PROXY_AUTH_FILE), PROXY_AUTH_FILE, cwd, 'proxy account'),
  });
}
