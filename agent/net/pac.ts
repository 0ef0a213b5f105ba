// PAC files: fetched once per run, evaluated in a V8 context of their own (node:vm) with the
// usual helpers, code generation from strings off, and a time limit per call. The PAC is someone
// else's code: it sees none of ferry's objects, and only strings cross between the two.
// (pac-resolver's QuickJS could not load its WebAssembly inside the single executable: README.)
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { networkInterfaces } from 'node:os';
import { Script, createContext, type Context } from 'node:vm';
import { EXIT } from '../errors.ts';
import { PacError } from './errors.ts';
import { PAC_HELPERS } from './pac-helpers.ts';
import { discoverPac, PAC_AUTO } from './wpad.ts';

const CALL_LIMIT_MS = 1000;
const MAX_PAC = 1024 * 1024;

export interface Pac {
  /** Where it came from (a URL or a path), for messages. */
  source: string;
  /** Found by WPAD (`--proxy-pac auto`). */
  wpad?: boolean;
  /** FindProxyForURL(url, host), with the host's addresses looked up beforehand (`resolve`). */
  find(url: string, host: string): string;
  /** Looks up `host` for dnsResolve/isInNet/isResolvable in later calls. */
  resolve(host: string): Promise<void>;
}

const invalid = (source: string, what: string) =>
  new PacError(
    `the PAC file ${source} is not usable: ${what}`,
    EXIT.usage,
    'fix the PAC file (it must define FindProxyForURL(url, host)), or pass --proxy instead',
  );

/** The line of `source` an error points at, from a V8 stack or a SyntaxError's first line. */
function lineOf(stack: string, name: string): string {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`${esc}:(\\d+)`).exec(stack);
  return m ? `line ${m[1]}` : 'unknown line';
}

function firstLine(stack: string): string {
  return stack.split('\n').find((l) => /^\w*Error\b/.test(l)) ?? stack.split('\n')[0];
}

/** Compiles the PAC in a fresh context; a syntax error or a missing FindProxyForURL is exit 64. */
export function compilePac(text: string, source: string): Pac {
  const name = 'proxy.pac';
  // A null-prototype sandbox: with {} the PAC's this.constructor would be ferry's own Object (and Function).
  const context: Context = createContext(Object.create(null), { codeGeneration: { strings: false, wasm: false } });
  new Script(PAC_HELPERS, { filename: 'ferry-pac-helpers.js' }).runInContext(context);
  try {
    new Script(text, { filename: name }).runInContext(context, { timeout: CALL_LIMIT_MS });
  } catch (err) {
    const stack = String((err as Error)?.stack ?? err);
    throw invalid(source, `${lineOf(stack, name)}: ${firstLine(stack)}`);
  }
  const defined = new Script('typeof FindProxyForURL').runInContext(context) as unknown;
  if (defined !== 'function') throw invalid(source, 'it defines no function FindProxyForURL(url, host)');
  const dns: Record<string, string | null> = {};
  const myIp = myIpAddress();
  return {
    source,
    resolve: async (host) => {
      const h = host.toLowerCase();
      if (h in dns) return;
      dns[h] = await lookup(h, { family: 4 }).then(
        (a) => a.address,
        () => null,
      );
    },
    find: (url, host) => {
      const call = `__ferryFind(${[url, host, JSON.stringify(dns), myIp].map((s) => JSON.stringify(s)).join(', ')})`;
      let out: unknown;
      try {
        out = new Script(call).runInContext(context, { timeout: CALL_LIMIT_MS });
      } catch (err) {
        throw invalid(source, `FindProxyForURL did not finish within ${CALL_LIMIT_MS} ms (${(err as Error).message})`);
      }
      const text = typeof out === 'string' ? out : 'ERR\nFindProxyForURL returned no string';
      if (text.startsWith('ERR\n')) throw invalid(source, `${lineOf(text, name)}: ${firstLine(text.slice(4))}`);
      return text.slice(3);
    },
  };
}

/** This machine's first non-internal IPv4 address (what myIpAddress() answers), else 127.0.0.1. */
function myIpAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export interface PacFetch {
  /** Trusted roots for an https PAC URL (AWS_CA_BUNDLE added). */
  ca?: string[];
  timeoutMs: number;
  /** For the log: which URL WPAD found. */
  info(msg: string): void;
}

/**
 * Reads the PAC from a path (or file:// URL) or fetches it (http/https, never through a proxy,
 * trusting `ca` when given); `auto` finds it by WPAD. Unreachable or not 200 → exit 69; a missing
 * file → 64.
 */
export async function loadPac(source: string, o: PacFetch): Promise<Pac> {
  if (source === PAC_AUTO) {
    const url = await discoverPac((u) => fetchPac(u, o.ca, o.timeoutMs), o.info);
    return { ...compilePac(url.text, url.url), wpad: true };
  }
  if (!/^https?:\/\//i.test(source)) {
    const path = source.startsWith('file://') ? new URL(source).pathname : source;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new PacError(
        `cannot read the PAC file ${path}: ${(err as Error).message}`,
        EXIT.usage,
        'pass --proxy-pac with a path or an http(s) URL of the PAC file',
      );
    }
    return compilePac(text, path);
  }
  return compilePac(await fetchPac(source, o.ca, o.timeoutMs), source);
}

export function fetchPac(url: string, ca: string[] | undefined, timeoutMs: number): Promise<string> {
  const unreachable = (what: string) =>
    new PacError(
      `cannot fetch the PAC file ${url}: ${what}`,
      EXIT.unavailable,
      'check the URL (--proxy-pac or FERRY_PROXY_PAC) and that this machine reaches it directly',
    );
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { timeout: timeoutMs, ...(ca ? { ca } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(unreachable(`HTTP ${res.statusCode}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_PAC) req.destroy(new Error('larger than 1 MiB'));
        else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', (err) => reject(unreachable(err.message)));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(unreachable(`${(err as { code?: string }).code ?? ''} ${err.message}`.trim())));
  });
}
