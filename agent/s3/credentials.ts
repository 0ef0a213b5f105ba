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
  const keys = { ...files.configFile[profile], ...files.credentialsFile[profile] };
  if (!files.configFile[profile] && !files.credentialsFile[profile]) {
    const names = new Set(
      [...Object.keys(files.configFile), ...Object.keys(files.credentialsFile)].filter((n) => !n.includes('.')),
    );
    throw usageError(
      `profile '${profile}' is not in ${path} (profiles found: ${[...names].join(', ') || 'none'})`,
      'pass --profile NAME, or name the section [default]',
    );
  }
  return {
    keys,
    settings: {
      accessKeyId: keys.aws_access_key_id,
      secretAccessKey: keys.aws_secret_access_key,
      sessionToken: keys.aws_session_token,
      region: keys.region,
      endpointUrl: keys['s3.endpoint_url'] ?? keys.endpoint_url,
    },
  };
}
