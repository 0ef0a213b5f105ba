import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, listening } from './net.ts';

/** An MIT KDC of a realm of its own on loopback (Debian krb5-kdc), started and stopped by its pid. */
export interface Kdc {
  realm: string;
  /** The krb5.conf for clients (ferry, kinit, curl, squid's helper): this realm, this KDC only. */
  config: string;
  /** A keytab holding HTTP/<host> of each proxy host asked for (what the proxy's helper accepts with). */
  keytab: string;
  /** The user's principal and password (alice@REALM). */
  user: string;
  password: string;
  /** kinit into a ticket cache of the caller's own (FILE:…); `lifetime` as kinit -l takes it. */
  kinit(opts?: { lifetime?: string }): string;
  /** KRB5_CONFIG and KRB5CCNAME for a client using `cache` (no cache: a path that holds none). */
  env(cache?: string): Record<string, string>;
  stop(): Promise<void>;
}

const REALM = 'FERRY.TEST';
const PASSWORD = 'alice krb5 pw';

/** Starts a KDC (~1 s): realm FERRY.TEST, user alice, service principals HTTP/<host> for `hosts`. */
export async function startKdc(hosts: string[] = ['localhost']): Promise<Kdc> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-kdc-'));
  const port = await freePort();
  const config = join(dir, 'krb5.conf');
  writeFileSync(
    config,
    [
      '[libdefaults]',
      `  default_realm = ${REALM}`,
      '  dns_lookup_kdc = false',
      '  dns_lookup_realm = false',
      '  rdns = false',
      '  dns_canonicalize_hostname = false',
      '  udp_preference_limit = 1',
      '[realms]',
      `  ${REALM} = {`,
      `    kdc = 127.0.0.1:${port}`,
      '  }',
      '',
    ].join('\n'),
  );
  const profile = join(dir, 'kdc.conf');
  writeFileSync(
    profile,
    [
      '[kdcdefaults]',
      `  kdc_listen = 127.0.0.1:${port}`,
      `  kdc_tcp_listen = 127.0.0.1:${port}`,
      '[realms]',
      `  ${REALM} = {`,
      `    database_name = ${dir}/principal`,
      `    key_stash_file = ${dir}/stash`,
      `    acl_file = ${dir}/kadm5.acl`,
      '    max_life = 10h',
      '  }',
      '[logging]',
      `  kdc = FILE:${dir}/kdc.log`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, KRB5_CONFIG: config, KRB5_KDC_PROFILE: profile };
  const admin = (q: string) => execFileSync('kadmin.local', ['-q', q], { env, stdio: 'ignore' });
  execFileSync('kdb5_util', ['create', '-s', '-r', REALM, '-P', 'ferry master key'], { env, stdio: 'ignore' });
  admin(`addprinc -pw "${PASSWORD}" alice`);
  const keytab = join(dir, 'http.keytab');
  for (const h of hosts) {
    admin(`addprinc -randkey HTTP/${h}`);
    admin(`ktadd -k ${keytab} HTTP/${h}`);
  }
  const child: ChildProcess = spawn('krb5kdc', ['-n', '-P', join(dir, 'kdc.pid')], { env, stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await listening(port)); i++) await new Promise((r) => setTimeout(r, 50));
  if (!(await listening(port))) throw new Error(`krb5kdc did not start; see ${dir}/kdc.log`);
  let caches = 0;
  return {
    realm: REALM,
    config,
    keytab,
    user: `alice@${REALM}`,
    password: PASSWORD,
    kinit: (opts = {}) => {
      const cache = `FILE:${join(dir, `cc-${++caches}`)}`;
      const args = [...(opts.lifetime ? ['-l', opts.lifetime] : []), '-c', cache, `alice@${REALM}`];
      execFileSync('kinit', args, { env: { ...env, KRB5CCNAME: cache }, input: `${PASSWORD}\n`, stdio: 'pipe' });
      return cache;
    },
    env: (cache) => ({ KRB5_CONFIG: config, KRB5CCNAME: cache ?? `FILE:${join(dir, 'no-such-cache')}` }),
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    },
  };
}

/** Whether `cache` holds a ticket that is still valid (klist -s). */
export function ticketValid(kdc: Kdc, cache: string): boolean {
  try {
    execFileSync('klist', ['-s', '-c', cache], { env: { ...process.env, ...kdc.env(cache) }, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
