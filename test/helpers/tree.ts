import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `dir` (with `dirs`, every folder too), as relative paths, sorted. */
export function walk(dir: string, o: { dirs?: boolean } = {}, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true })
    .flatMap((e) => {
      const rel = join(base, e.name);
      if (!e.isDirectory()) return [rel];
      return [...(o.dirs ? [`${rel}/`] : []), ...walk(dir, o, rel)];
    })
    .sort();
}
