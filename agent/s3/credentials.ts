import { readFileSync } from 'node:fs';
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
 * Reads `[default]`, `[NAME]` or `[profile NAME]` from a file in AWS config or credentials format.
 * Nested service blocks (`s3 =` followed by indented `endpoint_url = …`) are read for S3.
 */
export function readProfile(text: string, profile: string, source: string): { settings: ProfileSettings; keys: Map<string, string> } {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let nested: string | undefined;
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    if (/^\s*([#;].*)?$/.test(raw)) continue;
    const sec = /^\s*\[\s*(?:profile\s+)?([^\]]+?)\s*\]\s*$/.exec(raw);
    if (sec) {
      current = sections.get(sec[1]) ?? new Map();
      sections.set(sec[1], current);
      nested = undefined;
      continue;
    }
    const kv = /^(\s*)([A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$/.exec(raw);
    if (!kv || !current) continue;
    const indented = kv[1].length > 0;
    if (!indented && kv[3] === '') {
      nested = kv[2];
      continue;
    }
    if (indented && nested) current.set(`${nested}.${kv[2]}`, kv[3]);
    else {
      nested = undefined;
      current.set(kv[2], kv[3]);
    }
  }
  const keys = sections.get(profile);
  if (!keys) {
    const found = [...sections.keys()].join(', ') || 'none';
    throw usageError(
      `profile '${profile}' is not in ${source} (profiles found: ${found})`,
      'pass --profile NAME, or name the section [default]',
    );
  }
  return {
    keys,
    settings: {
      accessKeyId: keys.get('aws_access_key_id'),
      secretAccessKey: keys.get('aws_secret_access_key'),
      sessionToken: keys.get('aws_session_token'),
      region: keys.get('region'),
      endpointUrl: keys.get('s3.endpoint_url') ?? keys.get('endpoint_url'),
    },
  };
}

export function readProfileFile(path: string, profile: string): { settings: ProfileSettings; keys: Map<string, string> } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`cannot read --aws-config file ${path}: ${(err as Error).message}`);
  }
  return readProfile(text, profile, path);
}
