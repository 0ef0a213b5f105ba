import { usageError } from '../errors.ts';
import { parseCsv } from '../csv.ts';
import { asPrefix, formatUri, overlaps, parseUri, withKey, type Location } from '../location.ts';
import { fetchManifest, type Manifest } from '../prefix/manifest.ts';
import type { Stores } from '../stores.ts';
import { canListFolders, type Call, type Store } from '../store/store.ts';
import type { Row } from './status.ts';

/** Two rows writing under one output prefix would trample each other: refused before anything runs. */
export function checkDistinctOutputs(rows: Array<Record<string, string>>, source: string): void {
  const outs = rows.map((r, i) => ({
    line: i + 2,
    uri: asPrefix(parseUri(r.s3_output, `${source}:${i + 2} s3_output`)),
  }));
  for (let i = 0; i < outs.length; i++) {
    for (let j = i + 1; j < outs.length; j++) {
      if (!overlaps(outs[i].uri, outs[j].uri)) continue;
      const same = outs[i].uri.key === outs[j].uri.key ? 'have the same' : 'have nested';
      throw usageError(
        `${source}: rows on lines ${outs[i].line} and ${outs[j].line} ${same} s3_output ` +
          `(${formatUri(outs[i].uri)}, ${formatUri(outs[j].uri)})`,
        'every row needs an output prefix of its own (a copy-paste slip?): fix the run definition',
      );
    }
  }
}

/** A row's manifest, or undefined when there is none (the row has not reached its upload, or never ran). */
export async function readManifest(
  stores: Stores,
  prefix: Location,
  signal?: AbortSignal,
): Promise<Manifest | undefined> {
  return fetchManifest(await stores.for(prefix), prefix, { phase: 'download', signal });
}

/**
 * Short names for rows: each output prefix without what all of them share (`s3://b/output/hsdi/`
 * among `s3://b/output/…/` is `hsdi`); a single row is named by its last folder.
 */
export function rowNames(outputs: Location[]): string[] {
  // From the bucket and key only (what a store adds to its URIs, such as a token, never names a row).
  const parts = outputs.map((u) => [u.scheme, u.bucket, ...u.key.replace(/\/$/, '').split('/')].filter(Boolean));
  const same = (n: number) => parts.every((p) => p.slice(0, n).join('/') === parts[0].slice(0, n).join('/'));
  let n = Math.min(...parts.map((p) => p.length - 1));
  while (n > 0 && !same(n)) n--;
  return parts.map((p) => p.slice(n).join('/'));
}

/** The rows of a run definition file (inputs.csv): every row's output prefix, named, with its fields. */
export function rowsFromCsv(text: string, source: string): Row[] {
  const fields = parseCsv(text, source);
  checkDistinctOutputs(fields, source);
  const outputs = fields.map((r, i) => asPrefix(parseUri(r.s3_output, `${source}:${i + 2} s3_output`)));
  const names = rowNames(outputs);
  return fields.map((f, i) => ({ name: names[i], output: outputs[i], fields: f }));
}

/**
 * The rows under an output prefix: one per folder directly under it (a row that wrote nothing has
 * no folder, so it cannot be found this way). A store without folder listing is listed whole.
 */
export async function rowsUnder(store: Store, prefix: Location, call: Call): Promise<Row[]> {
  let keys: string[];
  if (canListFolders(store)) keys = await store.folders(prefix, call);
  else {
    const all = (await store.list(prefix, call)).map((o) => o.key.slice(prefix.key.length));
    const firsts = all.filter((k) => k.includes('/')).map((k) => `${prefix.key}${k.slice(0, k.indexOf('/') + 1)}`);
    keys = [...new Set(firsts)].sort();
  }
  return keys.map((k) => ({ name: k.slice(prefix.key.length, -1), output: withKey(prefix, k) }));
}
