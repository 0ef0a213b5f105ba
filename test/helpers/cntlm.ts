import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveOnFreePort } from './net.ts';

export interface Cntlm {
  url: string;
  stop(): Promise<void>;
}

/**
 * cntlm (Debian's package) on 127.0.0.1, as a site runs it: ferry talks to it without credentials,
 * it answers the upstream proxy's NTLM with the account in its own config file.
 */
export async function startCntlm(upstream: string, account: { domain: string; user: string; password: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-cntlm-'));
  const conf = join(dir, 'cntlm.conf');
  const { port, child } = await serveOnFreePort('cntlm', (p) => {
    writeFileSync(
      conf,
      [
        `Username ${account.user}`,
        `Domain ${account.domain}`,
        `Password ${account.password}`,
        `Proxy ${upstream}`,
        `Listen 127.0.0.1:${p}`,
        'Auth NTLM', // cntlm 0.92.3 does NTLMv2 only with a target info block, which ntlm_fake_auth does not send
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return spawn('cntlm', ['-f', '-c', conf], { stdio: 'ignore' });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    },
  } satisfies Cntlm;
}
