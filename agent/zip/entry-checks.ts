// The checks every zip entry passes before its bytes are trusted, in one place: the streaming path
// (extract.ts) and the inflate workers (inflate-worker.ts) both use them, so a refusal reads the same
// whichever path an entry took. Node built-ins only: the workers load this module on their own.

export const LOCAL_SIG = 0x04034b50;
/** Bytes of a local file header before the name and extra field. */
export const LOCAL_HEADER = 30;

/** Why an entry is refused, in words that follow "entry 'NAME' ". */
export const REFUSE = {
  noLocalHeader: 'has no local header where the central directory points (corrupt archive)',
  overlaps: 'overlaps the next entry or the central directory (a zip bomb or a corrupt archive)',
  truncated: 'is cut short: the archive is truncated',
  inflatesPast: (size: number) => `inflates to more than the ${size} bytes its header declares`,
  sizeDiffers: (got: number, size: number) => `holds ${got} bytes, its header declares ${size}`,
  crc: 'fails its CRC-32 check (corrupt data)',
  cannotInflate: (why: string) => `cannot be inflated: ${why}`,
};

/**
 * Where an entry's data lies, from its local header (`head`, read at `lho`): [start, end) in the
 * archive, or why the entry is refused. No byte may reach `limit` (the next entry or the central
 * directory): an entry that overlaps another is a zip bomb's shape.
 */
export function dataSpan(
  head: Buffer,
  lho: number,
  compressedSize: number,
  limit: number,
): { start: number; end: number } | string {
  if (head.length < LOCAL_HEADER || head.readUInt32LE(0) !== LOCAL_SIG) return REFUSE.noLocalHeader;
  const start = lho + LOCAL_HEADER + head.readUInt16LE(26) + head.readUInt16LE(28);
  const end = start + compressedSize;
  return end > limit ? REFUSE.overlaps : { start, end };
}

/** The inflated entry is what the central directory promised: size and CRC-32, or why not. */
export function checkInflated(got: number, crc: number, entry: { size: number; crc32: number }): string | undefined {
  if (got !== entry.size) return REFUSE.sizeDiffers(got, entry.size);
  if (crc >>> 0 !== entry.crc32 >>> 0) return REFUSE.crc;
  return undefined;
}
