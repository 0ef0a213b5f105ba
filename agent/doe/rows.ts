import { usageError } from '../errors.ts';
import { asPrefix, formatUri, overlaps, parseUri, under, type Location } from '../location.ts';
import { MANIFEST } from '../names.ts';
import type { Manifest } from '../phases/manifest.ts';
import type { Stores } from '../store/index.ts';

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
  const got = await (
    await stores.for(prefix)
  ).fetch(under(prefix, MANIFEST), { phase: 'download', signal, what: 'reading the manifest' });
  return got ? (JSON.parse(got.body.toString()) as Manifest) : undefined;
}
