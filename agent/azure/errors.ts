import { EXIT, FerryError, errnoCode, saidByRules, type Phase, type Said } from '../errors.ts';
import { isNetworkFailure, stalledTransfer, untrustedCertificate } from '../net/failures.ts';
import { explainNetError } from '../net/index.ts';

/** The parts of an SDK error (RestError, identity errors) the rules read. */
interface AzureSdkError {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  details?: { errorCode?: string };
}

/**
 * Azure's error code (PascalCase: BlobNotFound), from the body or, for a HEAD (no body), the
 * x-ms-error-code header the SDK copies into details; '' for Node's and the SDK's own codes
 * (ECONNREFUSED, REQUEST_SEND_ERROR), which the network rules read.
 */
export function azureCode(err: unknown): string {
  const e = err as AzureSdkError | null;
  const code = e?.details?.errorCode ?? e?.code ?? '';
  return /^[A-Z0-9_]+$/.test(code) ? '' : code;
}

export const azureStatus = (err: unknown) => (err as AzureSdkError | null)?.statusCode;

interface Facts {
  err: unknown;
  code: string;
  status?: number;
  detail: string;
  phase: Phase;
  where: string;
}

type Rule = (f: Facts) => Said | undefined;

const AUTH_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationServiceMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationSourceIPMismatch',
  'InsufficientAccountPermissions',
  'KeyBasedAuthenticationNotPermitted',
  'InvalidAuthenticationInfo',
]);

/** Proxy and PAC failures, said the same way for every store (agent/net/). */
const network: Rule = (f) => explainNetError(f.err);

const proxyAuth: Rule = (f) =>
  f.status !== 407 && !(f.status === undefined && /\b407\b/.test(f.detail))
    ? undefined
    : {
        says: `the HTTP proxy refused our credentials (HTTP 407; ${f.where})`,
        exitCode: EXIT.noPerm,
        hint:
          'check the proxy account in --proxy-auth-file (user:password or DOMAIN\\user:password), or the ' +
          'user:password in the proxy URL (percent-encode special characters)',
      };

const noContainer: Rule = (f) =>
  f.code !== 'ContainerNotFound'
    ? undefined
    : {
        says: 'the container does not exist',
        exitCode: EXIT.noInput,
        hint: 'check the account and container in the URI (az://ACCOUNT/CONTAINER/PATH) and the blob endpoint',
      };

const noBlob: Rule = (f) =>
  f.code !== 'BlobNotFound' && f.status !== 404
    ? undefined
    : {
        says: 'no such blob',
        exitCode: f.phase === 'download' ? EXIT.noInput : EXIT.cantCreate,
        hint: 'check the path (blob names are case-sensitive; a prefix must end with /)',
      };

const noIdentity: Rule = (f) =>
  f.err === null || !/^(CredentialUnavailableError|AuthenticationError|AggregateAuthenticationError)$/.test(f.code)
    ? undefined
    : {
        says: `no Azure token (${f.detail.split('\n')[0]})`,
        exitCode: EXIT.noPerm,
        hint:
          'for a service principal set AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET; for a managed ' +
          'identity run on an Azure VM that has one (AZURE_CLIENT_ID names a user-assigned one)',
      };

/** A HEAD answer has no body: a wrong key and a missing permission may look alike (403 only). */
const denied: Rule = (f) => {
  if (!AUTH_CODES.has(f.code) && f.status !== 403 && f.status !== 401) return undefined;
  const may =
    f.phase === 'download'
      ? 'the credentials may not read here (a SAS needs r and l; a role needs Storage Blob Data Reader)'
      : 'the credentials may not write here (a SAS needs r, a, c, w, d, l; a role needs Storage Blob Data ' +
        'Contributor): see ferry policy --output az://…';
  const key =
    'the account key or SAS is wrong or expired (check AZURE_STORAGE_KEY / the SAS, its expiry, and the clock)';
  const what = f.code || `HTTP ${f.status ?? 403}, no error code in the answer`;
  const hint = f.code === 'AuthenticationFailed' ? key : `two likely causes: ${key}, or ${may}`;
  return { says: `access denied (${what})`, exitCode: EXIT.noPerm, hint };
};

const unreachable: Rule = (f) =>
  !isNetworkFailure(f.err) && !(f.status !== undefined && f.status >= 500) && errnoCode(f.err) !== 'REQUEST_SEND_ERROR'
    ? undefined
    : {
        says: `${f.where} did not answer after retries (${errnoCode(f.err) ?? (f.code || f.status)}: ${f.detail})`,
        exitCode: EXIT.unavailable,
        hint: 'check the blob endpoint (connection string, blob_endpoint), the network and HTTPS_PROXY; re-run the row',
      };

const RULES: Rule[] = [
  network,
  proxyAuth,
  noContainer,
  noBlob,
  noIdentity,
  denied,
  untrustedCertificate,
  stalledTransfer,
  unreachable,
];

/**
 * Turns an Azure SDK, identity or network error into a FerryError: what failed, on which blob, and
 * what to do, with the same exit codes as S3 (403 → 77, 404 → 66 for inputs, unreachable → 69).
 */
export function classifyAzureError(
  err: unknown,
  ctx: { phase: Phase; op: string; target: string; where: string },
): FerryError {
  if (err instanceof FerryError) return err;
  const e = err as AzureSdkError | null;
  const code = azureCode(err) || (e?.name && e.name !== 'RestError' && e.name !== 'Error' ? e.name : '');
  const detail = e?.message ?? String(err);
  const facts: Facts = { err, code, status: azureStatus(err), detail, phase: ctx.phase, where: ctx.where };
  const fallback: Said = {
    says: `${code ? `${code}: ` : ''}${detail}`,
    exitCode: ctx.phase === 'download' ? EXIT.unavailable : EXIT.cantCreate,
  };
  return saidByRules(facts, RULES, fallback, { ...ctx, cause: err });
}
