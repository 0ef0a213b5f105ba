// Proxy credentials, kept apart from the proxy's address: from --proxy-auth-file (`user:password`
// or `DOMAIN\user:password`), else from the user:password@ part of the chosen proxy's URL.
import { readFileSync, statSync } from 'node:fs';
import { usageError } from '../errors.ts';

export interface ProxyCredentials {
  /** The account as given (`DOMAIN\user` or `user`): sent as is by Basic and Digest. */
  account: string;
  /** For NTLM: the part before the backslash (may be empty) and the part after it. */
  domain: string;
  user: string;
  password: string;
}

function split(account: string, password: string): ProxyCredentials {
  const slash = account.indexOf('\\');
  return {
    account,
    domain: slash === -1 ? '' : account.slice(0, slash),
    user: slash === -1 ? account : account.slice(slash + 1),
    password,
  };
}

/**
 * Reads `--proxy-auth-file`: the first line that is not empty or a # comment, `user:password` or
 * `DOMAIN\user:password` (the password is everything after the first colon, spaces included).
 * Warns (through `warn`) when the file is readable by its group or others.
 */
export function readAuthFile(path: string, warn: (msg: string) => void): ProxyCredentials {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(path, 'utf8');
    mode = statSync(path).mode;
  } catch (err) {
    throw usageError(
      `cannot read --proxy-auth-file ${path}: ${(err as Error).message}`,
      'write the proxy account into that file as user:password or DOMAIN\\user:password',
    );
  }
  if (mode & 0o044) {
    warn(
      `--proxy-auth-file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): ` +
        `it holds a password; run chmod 600 ${path}`,
    );
  }
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const colon = line?.indexOf(':') ?? -1;
  if (line === undefined || colon <= 0) {
    throw usageError(
      `--proxy-auth-file ${path} holds no user:password line`,
      'write one line: user:password or DOMAIN\\user:password',
    );
  }
  return split(line.slice(0, colon).trim(), line.slice(colon + 1));
}

/** The credentials in a proxy URL (http://user:password@host:port, percent-decoded), if any. */
export function fromProxyUrl(url: URL): ProxyCredentials | undefined {
  if (!url.username) return undefined;
  return split(decodeURIComponent(url.username), decodeURIComponent(url.password));
}
