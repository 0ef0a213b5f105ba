import { existsSync } from 'node:fs';
import { loadSharedConfigFiles } from '@smithy/core/config';
import { usageError } from '../errors.ts';

/** What one profile of an AWS config/credentials file says. Secrets stay in memory only. */
export interface ProfileSettings {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region?: string;
  endpointUrl?: string;
  /** The STS endpoint the profile names (`services` section `sts = endpoint_url`, else `endpoint_url`). */
  stsEndpointUrl?: string;
  /** When static session credentials expire, if the file says (aws_credential_expiration, x_security_token_expires). */
  expiration?: string;
}

/**
 * Reads profile `profile` from a file in AWS config or credentials format (`[default]`, `[NAME]`,
 * `[profile NAME]`, nested `s3 =` blocks), with the SDK's own loader. The job uploads one file, so
 * it is read as both kinds; as in the SDK, the credentials-file reading wins where both say a thing.
 */
export async function readProfileFile(
  path: string,
  profile: string,
): Promise<{ settings: ProfileSettings; keys: Record<string, string | undefined> }> {
  if (!existsSync(path)) throw usageError(`cannot read --aws-config file ${path}: it does not exist`);
  let files: Awaited<ReturnType<typeof loadSharedConfigFiles>>;
  try {
    files = await loadSharedConfigFiles({ filepath: path, configFilepath: path, ignoreCache: true });
  } catch (err) {
    throw usageError(`cannot read --aws-config file ${path}: ${(err as Error).message}`);
  }
  const keys: Record<string, string | undefined> = { ...files.configFile[profile], ...files.credentialsFile[profile] };
  if (!files.configFile[profile] && !files.credentialsFile[profile]) {
    const names = new Set(
      [...Object.keys(files.configFile), ...Object.keys(files.credentialsFile)].filter((n) => !n.includes('.')),
    );
    throw usageError(
      `profile '${profile}' is not in ${path} (profiles found: ${[...names].join(', ') || 'none'})`,
      'pass --profile NAME, or name the section [default]',
    );
  }
  const services = keys.services ? (files.configFile[`services.${keys.services}`] ?? {}) : {};
  return {
    keys,
    settings: {
      accessKeyId: keys.aws_access_key_id,
      secretAccessKey: keys.aws_secret_access_key,
      sessionToken: keys.aws_session_token,
      region: keys.region,
      endpointUrl: keys['s3.endpoint_url'] ?? services['s3.endpoint_url'] ?? keys.endpoint_url,
      stsEndpointUrl: services['sts.endpoint_url'] ?? keys.endpoint_url,
      expiration: keys.aws_credential_expiration ?? keys.x_security_token_expires,
    },
  };
}

/** What kind of identity a profile's keys describe, in words (no secret), and whether it can be renewed. */
export function profileKind(keys: Record<string, string | undefined>): {
  kind: string;
  refreshable: boolean;
  role?: string;
} {
  if (keys.role_arn) {
    const via = keys.source_profile
      ? `source_profile ${keys.source_profile}`
      : keys.credential_source
        ? `credential_source ${keys.credential_source}`
        : keys.web_identity_token_file
          ? `web identity token ${keys.web_identity_token_file}`
          : 'no source';
    const ext = keys.external_id ? ', with an external id' : '';
    return { kind: `assume role ${keys.role_arn} (${via}${ext})`, refreshable: true, role: keys.role_arn };
  }
  if (keys.credential_process) return { kind: 'credential_process', refreshable: true };
  if (keys.sso_session || keys.sso_start_url) return { kind: 'SSO (token cache)', refreshable: true };
  if (keys.web_identity_token_file) return { kind: 'web identity token file', refreshable: true };
  if (keys.aws_session_token) return { kind: 'static keys with a session token', refreshable: false };
  return { kind: 'static keys', refreshable: false };
}
