/** Secrets shorter than this are not masked (masking "a" everywhere would garble the output). */
const MIN_SECRET = 4;
const MASK = '***';

/**
 * Every secret value ferry knows (keys, session token, proxy password), replaced by *** in all
 * that ferry writes or relays: its messages, the solver's lines, the run log, the manifest.
 */
export class Masker {
  private secrets: string[] = [];

  add(...values: Array<string | undefined>): void {
    for (const v of values) {
      if (v === undefined || v.length < MIN_SECRET || this.secrets.includes(v)) continue;
      this.secrets.push(v);
      let decoded = v;
      try {
        decoded = decodeURIComponent(v);
      } catch {
        // not percent-encoded
      }
      for (const form of [decoded, encodeURIComponent(decoded)]) {
        if (form.length >= MIN_SECRET && !this.secrets.includes(form)) this.secrets.push(form);
      }
    }
    this.secrets.sort((a, b) => b.length - a.length);
  }

  /** The longest secret's length (0 without secrets). */
  get longest(): number {
    return this.secrets[0]?.length ?? 0;
  }

  mask(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  }

  /**
   * Where `text` (an unfinished line) may be cut so that no secret is split by the cut: at most
   * `want`, leaving the last longest-1 characters (a secret may be arriving), never inside a
   * secret that is complete in `text`.
   */
  safeCut(text: string, want: number): number {
    let cut = Math.min(want, text.length - Math.max(0, this.longest - 1));
    if (cut <= 0) return 0;
    for (let moved = true; moved;) {
      moved = false;
      for (const s of this.secrets) {
        for (let i = text.indexOf(s); i !== -1 && i < cut; i = text.indexOf(s, i + 1)) {
          if (i + s.length <= cut) continue;
          cut = i + s.length;
          moved = true;
        }
      }
    }
    return Math.min(cut, text.length);
  }
}

/** A token a URI carries (an Azure SAS) and its signature alone, which may appear percent-encoded too. */
export function tokenSecrets(token: string): string[] {
  const sig = /(?:^|&)sig=([^&]+)/.exec(token)?.[1];
  return [token, ...(sig ? [sig] : [])];
}

/**
 * Variables that hold the credentials of a store or the token of a credential endpoint (AWS keys,
 * the container credentials token, Azure keys, SAS, connection string, client secret, password,
 * the managed identity's header): ferry uses them and masks their values; the solver does not get
 * them (unless --solver-env-credentials).
 */
export const CREDENTIAL_VARS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AZURE_STORAGE_CONNECTION_STRING',
  'AZURE_STORAGE_KEY',
  'AZURE_STORAGE_SAS_TOKEN',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_PASSWORD',
  'IDENTITY_HEADER',
  'MSI_SECRET',
];

/**
 * Secrets in the environment ferry was given: the credential variables (with the key and SAS
 * signature inside an Azure connection string or SAS), and proxy passwords of any scheme.
 */
export function envSecrets(env: NodeJS.ProcessEnv): string[] {
  const out = CREDENTIAL_VARS.map((k) => env[k]).filter((v): v is string => !!v);
  for (const v of [env.AZURE_STORAGE_CONNECTION_STRING, env.AZURE_STORAGE_SAS_TOKEN]) {
    for (const m of (v ?? '').matchAll(/(?:AccountKey|SharedAccessSignature|sig)=([^;&]+)/gi)) out.push(m[1]);
  }
  for (const [k, v] of Object.entries(env)) {
    if (!v || !/^(https?|all)_proxy$/i.test(k)) continue;
    try {
      const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`); // host:port alone is a proxy too
      if (u.password) out.push(decodeURIComponent(u.password));
    } catch {
      // not a URL: nothing to mask
    }
  }
  return out;
}
