// Values of flags and variables: whole numbers and sizes, with errors that name where they came from.
import { usageError } from '../errors.ts';

/** A positive integer up to `max` from a flag or variable; `what` names it in the error. */
export function positiveInt(text: string, what: string, max = 1_000_000): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw usageError(`${what} must be a whole number from 1 to ${max}, got '${text}'`);
  }
  return n;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Sizes like `8MiB`, `64M`, `1048576` (binary units). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) <= 0 || !Number.isSafeInteger(Math.floor(Number(m[1]) * unit))) {
    throw usageError(`${what} must be a size like 8MiB or 512KiB, got '${text}'`);
  }
  return Math.floor(Number(m[1]) * unit);
}
