import { resolve } from 'node:path';
import { str, type ParsedArgs } from '../args.ts';
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

/** `--proxy-pac auto`: find the PAC file by WPAD (agent/net/wpad.ts). */
export const PAC_AUTO = 'auto';

/** Whether a --proxy-pac value names a local file (not a URL, not `auto`). */
export const isPacFile = (pac: string | undefined): pac is string =>
  pac !== undefined && pac !== PAC_AUTO && !/^[a-z]+:\/\//i.test(pac);

export function netSettings(p: ParsedArgs, env: Env, cwd: string): NetSettings {
  const given = str(p, 'proxy-pac') ?? (env.FERRY_PROXY_PAC || undefined);
  const pac = given?.toLowerCase() === PAC_AUTO ? PAC_AUTO : given; // a file named auto: ./auto
  const authFile = str(p, 'proxy-auth-file');
  return Object.freeze({
    proxy: str(p, 'proxy'),
    pac: isPacFile(pac) ? resolve(cwd, pac) : pac,
    authFile: authFile === undefined ? undefined : resolve(cwd, authFile),
  });
}
