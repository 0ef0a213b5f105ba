// Which credentials ferry uses for Azure Blob Storage, in the Azure conventions, first that applies:
// a SAS on the URI (for that container); the --azure-config file; AZURE_STORAGE_CONNECTION_STRING;
// AZURE_STORAGE_KEY (+ AZURE_STORAGE_ACCOUNT); AZURE_STORAGE_SAS_TOKEN; a service principal
// (AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET) or, with AZURE_STORAGE_AUTH_MODE=login,
// the machine's managed identity. Plain data: no SDK here.
import { readFileSync } from 'node:fs';
import { usageError } from '../errors.ts';
import { tokenSecrets } from '../secrets.ts';

type Env = Record<string, string | undefined>;

export type AzureAuth =
  | { kind: 'key'; key: string }
  | { kind: 'sas'; token: string }
  | { kind: 'service-principal'; tenantId: string; clientId: string; clientSecret: string }
  | { kind: 'managed-identity'; clientId?: string }
  | { kind: 'none' };

export interface AzureCredentials {
  auth: AzureAuth;
  /** The storage account the credentials are for, when they name one (a key always does). */
  account?: string;
  /** That account's blob endpoint (an emulator, another cloud), else https://ACCOUNT.blob.core.windows.net. */
  endpoint?: string;
  /** Where they came from, for messages: 'AZURE_STORAGE_KEY', '--azure-config FILE'. */
  source: string;
  /** Secret values (keys, SAS, client secret): masked in everything ferry writes. */
  secrets: string[];
}

/** Azurite's published development account (UseDevelopmentStorage=true). */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** `Name=value;Name=value` (values may hold `=`, as keys and SAS do). */
export function parseConnectionString(text: string, source: string): AzureCredentials {
  const f = new Map<string, string>();
  for (const part of text.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) f.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  if (f.get('usedevelopmentstorage') === 'true')
    return cred({ kind: 'key', key: DEV_KEY }, source, DEV_ACCOUNT, `http://127.0.0.1:10000/${DEV_ACCOUNT}`);
  const account = f.get('accountname');
  const endpoint =
    f.get('blobendpoint') ??
    (account ? `${f.get('defaultendpointsprotocol') ?? 'https'}://${account}.blob.${suffix(f)}` : undefined);
  const key = f.get('accountkey');
  const sas = f.get('sharedaccesssignature');
  if (key && account) return cred({ kind: 'key', key }, source, account, endpoint);
  if (sas)
    return cred({ kind: 'sas', token: sas.replace(/^\?/, '') }, source, account ?? accountOf(endpoint), endpoint);
  throw usageError(
    `the connection string in ${source} has neither AccountName + AccountKey nor SharedAccessSignature`,
    "copy it whole from the storage account's Access keys page (or a SAS connection string)",
  );
}

const suffix = (f: Map<string, string>) => f.get('endpointsuffix') ?? 'core.windows.net';

/** The account an endpoint URL names: the first label of *.blob.*, else the first path segment (Azurite). */
function accountOf(endpoint: string | undefined): string | undefined {
  if (!endpoint) return undefined;
  const u = new URL(endpoint);
  const host = /^([a-z0-9]+)\.blob\./.exec(u.hostname);
  return host ? host[1] : u.pathname.split('/').filter(Boolean)[0];
}

function cred(auth: AzureAuth, source: string, account?: string, endpoint?: string): AzureCredentials {
  const secrets =
    auth.kind === 'key'
      ? [auth.key]
      : auth.kind === 'sas'
        ? tokenSecrets(auth.token)
        : auth.kind === 'service-principal'
          ? [auth.clientSecret]
          : [];
  const named = (account ?? accountOf(endpoint))?.toLowerCase();
  return { auth, account: named, endpoint: endpoint?.replace(/\/+$/, ''), source, secrets };
}

/** The `[storage]` section of an Azure CLI-style config file (or its top level): keys lowercased. */
function readIni(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`cannot read --azure-config file ${path}: ${(err as Error).message}`);
  }
  const sections = new Map<string, Map<string, string>>([['', new Map()]]);
  let cur = sections.get('')!;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) sections.set(head[1].trim().toLowerCase(), (cur = new Map()));
    else if (line.includes('=')) {
      const i = line.indexOf('=');
      cur.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
  }
  return sections.get('storage') ?? sections.get('')!;
}

/** What an --azure-config file says (see the README's Azure section for its keys). */
export function fromConfigFile(path: string): AzureCredentials {
  const f = readIni(path);
  const source = `--azure-config ${path}`;
  const account = f.get('account');
  const endpoint = f.get('blob_endpoint');
  if (f.get('connection_string')) return parseConnectionString(f.get('connection_string')!, source);
  if (f.get('key')) {
    if (!account) throw usageError(`${source} has key but no account`, 'add account = NAME to the [storage] section');
    return cred({ kind: 'key', key: f.get('key')! }, source, account, endpoint);
  }
  if (f.get('sas_token')) return cred({ kind: 'sas', token: f.get('sas_token')!.replace(/^\?/, '') }, source, account);
  const sp = servicePrincipal(f.get('tenant_id'), f.get('client_id'), f.get('client_secret'), source);
  if (sp) return cred(sp, source, account, endpoint);
  if (f.get('auth_mode') === 'login')
    return cred({ kind: 'managed-identity', clientId: f.get('client_id') }, source, account, endpoint);
  throw usageError(
    `${source} holds no credentials`,
    'give [storage] with connection_string, or account + key, or sas_token, or tenant_id + client_id + ' +
      'client_secret, or auth_mode = login (managed identity)',
  );
}

function servicePrincipal(
  tenantId: string | undefined,
  clientId: string | undefined,
  clientSecret: string | undefined,
  source: string,
): AzureAuth | undefined {
  if (!clientSecret) return undefined;
  if (!tenantId || !clientId)
    throw usageError(`${source} has a client secret without its tenant id and client id`, 'give all three');
  return { kind: 'service-principal', tenantId, clientId, clientSecret };
}

/** The credentials from --azure-config, else the environment; { kind: 'none' } when there are none. */
export function azureCredentials(configFile: string | undefined, env: Env): AzureCredentials {
  if (configFile) return fromConfigFile(configFile);
  const endpoint = env.AZURE_STORAGE_SERVICE_ENDPOINT;
  const account = env.AZURE_STORAGE_ACCOUNT;
  if (env.AZURE_STORAGE_CONNECTION_STRING)
    return parseConnectionString(env.AZURE_STORAGE_CONNECTION_STRING, 'AZURE_STORAGE_CONNECTION_STRING');
  if (env.AZURE_STORAGE_KEY)
    return cred({ kind: 'key', key: env.AZURE_STORAGE_KEY }, 'AZURE_STORAGE_KEY', account, endpoint);
  if (env.AZURE_STORAGE_SAS_TOKEN) {
    const token = env.AZURE_STORAGE_SAS_TOKEN.replace(/^\?/, '');
    return cred({ kind: 'sas', token }, 'AZURE_STORAGE_SAS_TOKEN', account, endpoint);
  }
  const sp = servicePrincipal(env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, env.AZURE_CLIENT_SECRET, 'AZURE_CLIENT_SECRET');
  if (sp) return cred(sp, 'AZURE_CLIENT_SECRET', account, endpoint);
  if (env.AZURE_STORAGE_AUTH_MODE === 'login')
    return cred({ kind: 'managed-identity', clientId: env.AZURE_CLIENT_ID }, 'managed identity', account, endpoint);
  return cred({ kind: 'none' }, 'nothing', account, endpoint);
}
