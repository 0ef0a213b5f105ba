/** `1 file`, `2 files`, `0 files`: a count with its noun (`many` when the plural is not noun + s). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
