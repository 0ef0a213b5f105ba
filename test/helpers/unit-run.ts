// Unit-test kit for the run's modules against the in-memory store: a run directory, a quiet log, an
// uploader over a MemoryStore, and a Stores stand-in that serves that store for every location.
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseUri, type Location } from '../../agent/location.ts';
import { Log } from '../../agent/log.ts';
import type { Stores } from '../../agent/stores.ts';
import { Uploader } from '../../agent/transfer/upload.ts';
import { MemoryStore } from './memory-store.ts';

export const quietLog = () => new Log({ quiet: true });

/** A fresh run directory with `files` (relative path → content), each `ageMs` old. */
export function runDir(files: Record<string, string> = {}, ageMs = 0): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-unit-'));
  for (const [rel, body] of Object.entries(files)) write(dir, rel, body, ageMs);
  return dir;
}

export function write(dir: string, rel: string, body: string, ageMs = 0): void {
  const path = join(dir, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, body);
  if (ageMs) {
    const t = (Date.now() - ageMs) / 1000;
    utimesSync(path, t, t);
  }
}

export const OUT: Location = parseUri('s3://bucket/out/row/', '--output');

export function uploaderFor(store: MemoryStore, dir: string, prefix = OUT): Uploader {
  return new Uploader({ store, dir, prefix, filesInFlight: 4, smallInFlight: 8, memory: 64 << 20, log: quietLog() });
}

/** What the commands' registry of stores gives the run: here one in-memory store for every location. */
export function storesOf(store: MemoryStore): Stores {
  return { for: async () => store, close: async () => {}, network: async () => ({}) } as unknown as Stores;
}

/** The objects under a prefix, key (relative to it) → text. */
export function objectsUnder(store: MemoryStore, prefix = OUT): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of store.objects) if (k.startsWith(prefix.key)) out[k.slice(prefix.key.length)] = v.body.toString();
  return out;
}
