// What stays in the solver's environment: the one ferry was given, the launcher's additions and the
// run mark — without what ferry uses to reach its stores. The credential variables and the files
// that hold tokens are removed, and a proxy URL keeps its address but loses its account (a solver
// that dumps its environment into an output uploads nothing secret). --solver-env-credentials keeps
// them all, as given.
import type { SolverCommand } from './mpi.ts';
import { CREDENTIAL_VARS } from '../secrets.ts';

/** Set in the solver's environment: every process the run started carries it, wherever it goes. */
export const RUN_MARK = 'FERRY_RUN_MARK';

/** Variables naming files that hold tokens or keys ferry's credential providers read. */
const TOKEN_FILES = [
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_CLIENT_CERTIFICATE_PATH',
];

/** Proxy variables, in both cases (curl and the SDKs read either). */
const PROXY_VAR = /^(https?|all)_proxy$/i;

/** A proxy URL without its user and password; as given when it holds none. `user:pw@host:port` (no scheme) too. */
export function withoutAccount(value: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
  let u: URL;
  try {
    u = new URL(scheme ? value : `http://${value}`);
  } catch {
    return value;
  }
  if (!u.username && !u.password) return value;
  u.username = '';
  u.password = '';
  // URL adds a '/' to an address given without a path, and here the scheme: keep the text as it was.
  let out = u.toString();
  if (!value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').includes('/')) out = out.replace(/\/$/, '');
  return scheme ? out : out.replace(/^http:\/\//, '');
}

/** The solver's environment (see the top of this file). `own`: variables of ferry's own to leave out too. */
export function solverEnv(
  env: NodeJS.ProcessEnv,
  launch: SolverCommand,
  o: { mark: string; keepCredentials?: boolean; own?: string[] },
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, ...launch.env, [RUN_MARK]: o.mark };
  for (const v of o.own ?? []) delete out[v];
  if (o.keepCredentials) return out;
  for (const v of [...CREDENTIAL_VARS, ...TOKEN_FILES]) delete out[v];
  for (const [k, v] of Object.entries(out)) if (v && PROXY_VAR.test(k)) out[k] = withoutAccount(v);
  return out;
}
