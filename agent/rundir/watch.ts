// Hears of files created, removed or renamed under the run directory as they are (Linux inotify,
// through fs.watch), so that the live upload's next scan comes then and not up to a period later.
// One watch per directory, not fs.watch's `recursive`: on Linux that walks the tree and watches every
// file too (its inotify watches are a per-user resource, shared with the user's other programs).
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

/**
 * The most directories watched: inotify's watches are a per-user limit (fs.inotify.max_user_watches,
 * 8,192 on older kernels) the user's other programs need too. Past it the other directories are
 * found by the scans' period alone, as every directory is when inotify is out of watches (fs.watch
 * throws ENOSPC) or not there.
 */
export const WATCH_MOST = 1024;

/**
 * Calls `onNew` when an entry not skipped is created, removed or renamed in a watched directory.
 * Writes to a file (inotify's IN_MODIFY, 'change') are not told: a file being written is not ready,
 * and a solver's log written line by line would wake the scans at every line.
 */
export class TreeWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  /** Set once inotify refused a watch (out of watches, or no inotify): no more are tried. */
  private refused = false;
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly skip: (rel: string) => boolean,
    private readonly onNew: () => void,
    private readonly most = WATCH_MOST,
  ) {}

  /** How many directories are watched now. */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * Watches the root and `dirs` (relative, as a scan found them) and stops watching those no longer
   * there. Returns how many it began to watch: what was created in those before their watch began
   * only the next scan can find.
   */
  update(dirs: string[]): number {
    if (this.closed) return 0;
    const want = new Set(['', ...dirs]);
    for (const [rel, w] of this.watchers) {
      if (!want.has(rel)) this.unwatch(rel, w);
    }
    let added = 0;
    for (const rel of want) {
      if (this.refused || this.watchers.size >= this.most) break;
      if (!this.watchers.has(rel) && this.watchOne(rel)) added++;
    }
    return added;
  }

  private watchOne(rel: string): boolean {
    let w: FSWatcher;
    try {
      w = watch(join(this.root, rel), { persistent: false }, (event, name) => {
        if (event !== 'rename') return;
        if (name === null || !this.skip(rel ? `${rel}/${name}` : name)) this.onNew();
      });
    } catch (err) {
      // (a directory removed since the scan: the next scan says so; anything else: no inotify to be had)
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.refused = true;
      return false;
    }
    // (a watched directory removed, or unreadable: the scans go on finding what is there)
    w.on('error', () => this.unwatch(rel, w));
    this.watchers.set(rel, w);
    return true;
  }

  private unwatch(rel: string, w: FSWatcher): void {
    w.close();
    if (this.watchers.get(rel) === w) this.watchers.delete(rel);
  }

  close(): void {
    this.closed = true;
    for (const [rel, w] of this.watchers) this.unwatch(rel, w);
  }
}
