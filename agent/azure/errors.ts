import { EXIT, type FerryError, type Phase } from '../errors.ts';
import type { ProxyAuthError } from '../net/index.ts';
import { classifyBy, storeRules, type Rule } from '../store/rules.ts';

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

/** In order, between the rules every store shares: the first that recognises the failure says what it is. */
const RULES = storeRules([noContainer, noBlob, noIdentity, denied], {
  plain401IsProxy: false, // Azure's own refusals may be 401
  unreachableHint:
    'check the blob endpoint (connection string, blob_endpoint), the network and HTTPS_PROXY; re-run the row',
});

/**
 * Turns an Azure SDK, identity or network error into a FerryError: what failed, on which blob, and
 * what to do, with the same exit codes as S3 (403 → 77, 404 → 66 for inputs, unreachable → 69).
 */
export function classifyAzureError(
  err: unknown,
  ctx: { phase: Phase; op: string; target: string; where: string; refusal?: ProxyAuthError },
): FerryError {
  const e = err as AzureSdkError | null;
  const code = azureCode(err) || (e?.name && e.name !== 'RestError' && e.name !== 'Error' ? e.name : '');
  const f = { err, code, status: azureStatus(err), detail: e?.message ?? String(err), ...ctx };
  return classifyBy(RULES, f, ctx);
}
