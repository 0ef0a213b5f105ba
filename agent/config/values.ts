import { usageError } from '../errors.ts';

export type Env = Record<string, string | undefined>;

/** A number of seconds > 0 from a flag (`what` names it), or `dflt`. */
export function seconds(text: string | undefined, what: string, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(n > 0))
    throw usageError(`${what} must be a number of seconds > 0, got '${text}'`);
  return n;
}
