import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './env.ts';
import { serveOnFreePort } from './net.ts';

/** Azurite's published development account and key (the emulator's, not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzureEnv {
  /** http://127.0.0.1:PORT/devstoreaccount1 */
  endpoint: string;
  account: string;
  key: string;
  /** A connection string for that endpoint, as the Azure portal gives one. */
  connectionString: string;
}

export interface Azurite extends AzureEnv {
  port: number;
  pid: number;
  /** Stops it (SIGTERM: it saves its state first; SIGKILL: as a crash, the last seconds are lost). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

export function azureEnv(port: number, scheme: 'http' | 'https' = 'http'): AzureEnv {
  const endpoint = `${scheme}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    endpoint,
    account: AZURITE_ACCOUNT,
    key: AZURITE_KEY,
    connectionString:
      `DefaultEndpointsProtocol=${scheme};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `BlobEndpoint=${endpoint};`,
  };
}

/**
 * Azurite's blob service on 127.0.0.1 (npm `azurite`, a devDependency): in memory, or on disk in
 * `location` (what survives a restart); with `https`, over TLS with that certificate and OAuth on
 * (bearer tokens accepted besides keys and SAS). Flags, all measured on Azurite 3.35: --disableTelemetry (it
 * otherwise reports to Microsoft), --skipApiVersionCheck (it refuses @azure/storage-blob 12.32's
 * newer API version with 400 InvalidHeaderValue). Stopped only by its pid.
 */
export async function startAzurite(
  o: { location?: string; port?: number; https?: { cert: string; key: string } } = {},
): Promise<Azurite> {
  const { port, child } = await serveOnFreePort(
    'azurite-blob',
    (p) => {
      const args = ['--blobHost', '127.0.0.1', '--blobPort', String(p), '--disableTelemetry', '--skipApiVersionCheck'];
      args.push('--silent', ...(o.location ? ['--location', o.location] : ['--inMemoryPersistence']));
      if (o.https) args.push('--cert', o.https.cert, '--key', o.https.key, '--oauth', 'basic');
      return spawn(join(ROOT, 'node_modules/.bin/azurite-blob'), args, { stdio: ['ignore', 'ignore', 'inherit'] });
    },
    { port: o.port },
  );
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  return {
    ...azureEnv(port, o.https ? 'https' : 'http'),
    port,
    pid: child.pid!,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
