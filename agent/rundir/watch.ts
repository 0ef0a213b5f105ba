// Hears of files created, moved or removed under the run directory (Linux inotify, through ferry's
// addon), so that the live upload's next scan comes then and not up to a period later. One watch per
// folder, for those events only: Node's fs.watch always asks for every write too (IN_MODIFY), and a
// solver writing its log a line per call kept ferry's event loop awake for each (80-95% of a core,
// against 0.03 s in 5 s without a watch). The events queue in the kernel until the watch reads them,
// every POLL_MS: nothing wakes ferry in between.
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { loadNative, type Native } from '../native/index.ts';

/**
 * The most folders watched: inotify's watches are a per-user limit (fs.inotify.max_user_watches,
 * 8,192 on older kernels) the user's other programs need too. Past it the other folders are found
 * by the scans' period alone, as every folder is when inotify is out of watches (ENOSPC, tried again
 * once a watch is let go) or not there (no addon).
 */
export const WATCH_MOST = 1024;
/** How often the queued events are read (ms): the latest a created file is heard of. */
export const POLL_MS = 20;

/**
 * Events told to JS per read; the rest are read and dropped (as "there were more": a scan then).
 * A solver making and removing temp files in a tight loop queued ~100,000 a second.
 */
const EVENTS_TOLD = 64;
/** The folder itself went (removed, moved away, its file system unmounted): its watch is gone. */
const GONE = 0x400 | 0x800 | 0x8000 | 0x2000; // IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT
/** Events were lost (the queue was full): something may have been created. */
const OVERFLOW = 0x4000; // IN_Q_OVERFLOW
const ENOSPC = 28;

/**
 * Calls `onNew` when an entry not skipped is created, moved or removed in a watched folder (or when
 * events were lost). Writes to files are not told: a file being written is not ready.
 */
export class TreeWatch {
  private readonly native: Native | undefined;
  private fd = -1;
  private readonly byRel = new Map<string, number>();
  private readonly byWd = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;
  /** Set when inotify refused a watch for want of watches: none is tried until one is let go. */
  private full = false;
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly skip: (rel: string) => boolean,
    private readonly onNew: () => void,
    private readonly most = WATCH_MOST,
    native?: Native,
  ) {
    const loaded = native ? undefined : loadNative();
    const n = native ?? (loaded?.ok ? loaded.native : undefined);
    this.native = n?.inotifyOpen ? n : undefined; // (an addon of an older build: no watch)
  }

  /** How many folders are watched now. */
  get size(): number {
    return this.byRel.size;
  }

  /**
   * Watches the root and `dirs` (relative, as a scan found them) and stops watching those no longer
   * there. Returns how many it began to watch: what was created in those before their watch began
   * only the next scan can find.
   */
  update(dirs: string[]): number {
    if (this.closed || !this.native) return 0;
    if (this.fd < 0) {
      const fd = this.native.inotifyOpen();
      if (fd < 0) return 0;
      this.fd = fd;
      this.timer = setInterval(() => this.read(), POLL_MS);
      this.timer.unref();
    }
    const want = new Set(['', ...dirs]);
    for (const rel of [...this.byRel.keys()]) if (!want.has(rel)) this.unwatch(rel);
    let added = 0;
    for (const rel of want) {
      if (this.full || this.byRel.size >= this.most) break;
      if (!this.byRel.has(rel) && this.watchOne(rel)) added++;
    }
    return added;
  }

  private watchOne(rel: string): boolean {
    const wd = this.native!.inotifyWatch(this.fd, join(this.root, rel));
    if (wd < 0) {
      // (a folder gone since the scan, or a link in its place: the next scan says what is there)
      if (-wd === ENOSPC) this.full = true;
      return false;
    }
    // The same folder under a new name (moved): one watch, known by its new name.
    const was = this.byWd.get(wd);
    if (was !== undefined) this.byRel.delete(was);
    this.byWd.set(wd, rel);
    this.byRel.set(rel, wd);
    return true;
  }

  private unwatch(rel: string): void {
    const wd = this.byRel.get(rel)!;
    this.byRel.delete(rel);
    this.byWd.delete(wd);
    this.native!.inotifyUnwatch(this.fd, wd);
    this.full = false;
  }

  /** Reads what queued since the last read. */
  private read(): void {
    if (this.closed) return;
    const got = this.native!.inotifyRead(this.fd, EVENTS_TOLD);
    let told = false;
    for (let i = 0; i + 2 < got.length; i += 3) {
      const [wd, mask, name] = [got[i] as number, got[i + 1] as number, got[i + 2] as string];
      if (mask & OVERFLOW) told = true;
      const rel = this.byWd.get(wd);
      if (rel === undefined) continue;
      if (mask & GONE && name === '') {
        // Its watch is gone with it: a folder made again under that name is watched anew.
        this.byWd.delete(wd);
        if (this.byRel.get(rel) === wd) this.byRel.delete(rel);
        this.full = false;
        continue;
      }
      if (!told && !this.skip(rel ? `${rel}/${name}` : name)) told = true;
    }
    if (told) this.onNew();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.fd >= 0) closeSync(this.fd); // (every watch goes with the fd)
    this.byRel.clear();
    this.byWd.clear();
  }
}
