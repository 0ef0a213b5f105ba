// Reads a zip's central directory through a byte-range reader (a local file or ranged GETs: this
// module knows nothing of S3). Handles zip64, archive comments up to 64 KiB, UTF-8 and CP437 names.
import { crc32 } from 'node:zlib';
import { EXIT, FerryError } from '../errors.ts';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  externalAttrs: number;
  /** High byte of "version made by": 3 = Unix (external attributes carry a mode). */
  madeBy: number;
}

export interface CentralDirectory {
  entries: ZipEntry[];
  /** Where the central directory starts: no entry's data may reach past it. */
  offset: number;
}

/** Reads bytes [start, end) of the archive. */
export type RangeReader = (start: number, end: number) => Promise<Buffer>;

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CD_SIG = 0x02014b50;
const MAX_TAIL = 22 + 0xffff + 20;
/** Info-ZIP Unicode Path extra field: version 1, CRC-32 of the header name, the name in UTF-8. */
const UNICODE_PATH = 0x7075;

function bad(zip: string, reason: string): FerryError {
  return new FerryError(`not a valid zip archive: ${reason}`, {
    phase: 'extract',
    target: zip,
    exitCode: EXIT.dataErr,
    hint:
      'the input is not a complete zip (an HTML error page, or a truncated upload?): ' +
      'check it with unzip -t and upload it again',
  });
}

const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐' +
  '└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function decodeName(raw: Buffer, utf8Flag: boolean): string {
  if (utf8Flag) return raw.toString('utf8');
  const asUtf8 = raw.toString('utf8');
  if (!asUtf8.includes('\ufffd')) return asUtf8; // Info-ZIP on Linux writes UTF-8 without the flag
  let s = '';
  for (const b of raw) s += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return s;
}

export async function readCentralDirectory(zip: string, size: number, read: RangeReader): Promise<CentralDirectory> {
  if (size < 22) throw bad(zip, `${size} bytes is too short for a zip`);
  const tailStart = Math.max(0, size - MAX_TAIL);
  const tail = await read(tailStart, size);
  // The end record is the last signature whose comment ends exactly at the end of the file.
  let at = -1;
  let misfit = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== EOCD_SIG) continue;
    if (i + 22 + tail.readUInt16LE(i + 20) === tail.length) {
      at = i;
      break;
    }
    if (misfit < 0) misfit = i;
  }
  if (at < 0 && misfit >= 0) {
    const says = tail.readUInt16LE(misfit + 20);
    throw bad(
      zip,
      `the end record's comment length (${says}) disagrees with the end of the file ` +
        `(${tail.length - misfit - 22} bytes follow)`,
    );
  }
  if (at < 0) throw bad(zip, 'no end-of-central-directory record');
  let count = tail.readUInt16LE(at + 10);
  let cdSize = tail.readUInt32LE(at + 12);
  let cdOffset = tail.readUInt32LE(at + 16);
  if (tail.readUInt16LE(at + 4) !== 0 || tail.readUInt16LE(at + 6) !== 0)
    throw bad(zip, 'multi-volume (split) archives are not supported');
  if (at >= 20 && tail.readUInt32LE(at - 20) === ZIP64_LOCATOR_SIG) {
    const z64at = Number(tail.readBigUInt64LE(at - 20 + 8));
    const rec =
      z64at >= tailStart ? tail.subarray(z64at - tailStart, z64at - tailStart + 56) : await read(z64at, z64at + 56);
    if (rec.length < 56 || rec.readUInt32LE(0) !== ZIP64_EOCD_SIG)
      throw bad(zip, 'broken zip64 end-of-central-directory record');
    count = Number(rec.readBigUInt64LE(32));
    cdSize = Number(rec.readBigUInt64LE(40));
    cdOffset = Number(rec.readBigUInt64LE(48));
  }
  if (cdOffset + cdSize > size)
    throw bad(zip, `central directory (${cdOffset}+${cdSize}) lies beyond the end of the ${size}-byte file: truncated`);
  const cd =
    cdOffset >= tailStart
      ? tail.subarray(cdOffset - tailStart, cdOffset - tailStart + cdSize)
      : await read(cdOffset, cdOffset + cdSize);
  return { entries: parseEntries(zip, cd, count), offset: cdOffset };
}

/**
 * Applies an entry's extra fields: zip64 sizes and offset (only the fields whose 32-bit value is
 * saturated are present, in this order), and an Info-ZIP Unicode Path (written by Info-ZIP on
 * Windows: the UTF-8 name, valid while its CRC matches the header name). A field longer than what
 * is left of the record is refused.
 */
function applyExtras(zip: string, extra: Buffer, rawName: Buffer, e: ZipEntry): void {
  for (let at = 0; at + 4 <= extra.length;) {
    const id = extra.readUInt16LE(at);
    const len = extra.readUInt16LE(at + 2);
    const end = at + 4 + len;
    if (end > extra.length) {
      throw bad(
        zip,
        `an extra field of entry '${e.name}' claims ${len} bytes, more than its ${extra.length - at - 4} left`,
      );
    }
    if (id === UNICODE_PATH && len >= 5 && extra[at + 4] === 1 && extra.readUInt32LE(at + 5) === crc32(rawName)) {
      e.name = extra.subarray(at + 9, end).toString('utf8');
    }
    if (id === 0x0001) {
      let q = at + 4;
      const take = () => {
        if (q + 8 > end) throw bad(zip, 'zip64 extra field too short');
        q += 8;
        return Number(extra.readBigUInt64LE(q - 8));
      };
      if (e.size === 0xffffffff) e.size = take();
      if (e.compressedSize === 0xffffffff) e.compressedSize = take();
      if (e.localHeaderOffset === 0xffffffff) e.localHeaderOffset = take();
    }
    at = end;
  }
}

/** The central-directory record at `p`, and where the next one starts. */
function parseEntry(zip: string, cd: Buffer, p: number): { entry: ZipEntry; next: number } {
  const flags = cd.readUInt16LE(p + 8);
  const nameLen = cd.readUInt16LE(p + 28);
  const extraLen = cd.readUInt16LE(p + 30);
  const commentLen = cd.readUInt16LE(p + 32);
  const next = p + 46 + nameLen + extraLen + commentLen;
  if (next > cd.length) throw bad(zip, 'central directory entry runs past its end');
  const rawName = cd.subarray(p + 46, p + 46 + nameLen);
  const entry: ZipEntry = {
    name: decodeName(rawName, (flags & 0x800) !== 0),
    method: cd.readUInt16LE(p + 10),
    flags,
    crc32: cd.readUInt32LE(p + 16),
    compressedSize: cd.readUInt32LE(p + 20),
    size: cd.readUInt32LE(p + 24),
    localHeaderOffset: cd.readUInt32LE(p + 42),
    externalAttrs: cd.readUInt32LE(p + 38),
    madeBy: cd.readUInt16LE(p + 4) >> 8,
  };
  applyExtras(zip, cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), rawName, entry);
  return { entry, next };
}

function parseEntries(zip: string, cd: Buffer, count: number): ZipEntry[] {
  const entries: ZipEntry[] = [];
  for (let p = 0; p + 46 <= cd.length && cd.readUInt32LE(p) === CD_SIG;) {
    const { entry, next } = parseEntry(zip, cd, p);
    entries.push(entry);
    p = next;
  }
  if (entries.length !== count && count !== 0xffff) {
    throw bad(zip, `central directory lists ${entries.length} entries, its end record says ${count}`);
  }
  return entries;
}
