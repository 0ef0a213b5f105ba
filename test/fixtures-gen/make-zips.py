#!/usr/bin/env python3
"""Writes a corpus of legitimate and hostile zip archives into DIR, and DIR/cases.json saying what
ferry must do with each: {"file", "expect": "ok" | "refuse", "why": text the error must contain,
"entry": the entry it must name, "args": extra ferry flags, "files": what an extracted "ok" case
holds (path -> its text, {"sha256": hex} for binary bytes, null for a folder ending in / or a
file whose bytes are not ours),
"entries": how many files and folders the extraction makes in all}. Made at test time (once per
version of this script: test/helpers/zips.ts); nothing is committed."""
import hashlib, json, os, struct, subprocess, sys, zipfile, shutil, warnings

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
cases = []

def path(name): return os.path.join(out, name)
def tree_size(files):
    """Files and folders an extraction of `files` makes (each folder on the way counted once)."""
    paths = set()
    for rel in files:
        parts = rel.rstrip('/').split('/')
        for i in range(1, len(parts)): paths.add('/'.join(parts[:i]) + '/')
        paths.add(rel)
    return len(paths)
def add(name, expect, why=None, entry=None, args=None, files=None, entries=None):
    if files is not None and entries is None: entries = tree_size(files)
    cases.append(dict(file=name, expect=expect, why=why, entry=entry, args=args or [], files=files, entries=entries))
def sha(b): return {'sha256': hashlib.sha256(b).hexdigest()}
def zwrite(name, entries, compression=zipfile.ZIP_DEFLATED, comment=None):
    with zipfile.ZipFile(path(name), 'w', compression) as z:
        for n, d in entries:
            z.writestr(n, d)
        if comment is not None: z.comment = comment
def patch_cd(name, fn):
    data = bytearray(open(path(name), 'rb').read())
    p = data.find(b'PK\x01\x02')
    fn(data, p)
    open(path(name), 'wb').write(data)

# --- legitimate: what real archivers write -------------------------------------------------
zwrite('plain.zip', [('a.txt', 'hello\n'), ('sub/b.txt', 'b' * 10000)])
add('plain.zip', 'ok', files={'a.txt': 'hello\n', 'sub/b.txt': 'b' * 10000})
zwrite('utf8.zip', [('résultat/données.txt', 'ü\n'), ('日本/名前.txt', 'x')])
add('utf8.zip', 'ok', files={'résultat/données.txt': 'ü\n', '日本/名前.txt': 'x'})
with zipfile.ZipFile(path('emptydir.zip'), 'w') as z:
    z.writestr(zipfile.ZipInfo('empty/'), '')
    z.writestr('f.txt', 'f')
add('emptydir.zip', 'ok', files={'f.txt': 'f', 'empty/': None})
zwrite('stored.zip', [('s.bin', bytes(range(256)) * 100)], compression=zipfile.ZIP_STORED)
add('stored.zip', 'ok', files={'s.bin': sha(bytes(range(256)) * 100)})
zwrite('comment.zip', [('c.txt', 'c')], comment=b'archive comment ' * 200)
add('comment.zip', 'ok', files={'c.txt': 'c'})
with zipfile.ZipFile(path('zip64-entry.zip'), 'w', zipfile.ZIP_DEFLATED) as z:
    with z.open('big.txt', 'w', force_zip64=True) as f: f.write(b'zip64 ' * 1000)
add('zip64-entry.zip', 'ok', files={'big.txt': 'zip64 ' * 1000})
with zipfile.ZipFile(path('zip64-many.zip'), 'w') as z:  # more than 65,535 entries: zip64 end records
    for i in range(65600): z.writestr(zipfile.ZipInfo(f'd/{i:05d}/'), '')
    z.writestr('d/last.txt', 'last')
add('zip64-many.zip', 'ok', files={'d/last.txt': 'last', 'd/00000/': None, 'd/65599/': None}, entries=1 + 65600 + 1)
src = path('src'); os.makedirs(os.path.join(src, 'sub'), exist_ok=True)
open(os.path.join(src, 'sub', 'x.txt'), 'w').write('streamed\n' * 100)
with open(path('streamed.zip'), 'wb') as f:  # Info-ZIP to a pipe: data descriptors, no seek
    subprocess.run('zip -q -r - sub | cat', shell=True, cwd=src, stdout=f, check=True)
add('streamed.zip', 'ok', files={'sub/x.txt': 'streamed\n' * 100})
jar = shutil.which('jar') or shutil.which('fastjar')
if not jar:  # scripts/setup installs fastjar: a missing jar is a broken setup, not a case to drop
    sys.exit('make-zips.py: no jar or fastjar on PATH (run scripts/setup, or apt-get install fastjar)')
subprocess.run([jar, 'cf', path('archive.jar'), '-C', src, 'sub'], check=True)
os.rename(path('archive.jar'), path('jar.zip'))
add('jar.zip', 'ok', files={'sub/x.txt': 'streamed\n' * 100, 'META-INF/MANIFEST.MF': None})  # jar's own, its bytes vary
shutil.rmtree(src)

# Big stored entries (a mesh) are written straight from the ranged reads into their files: one
# between deflated ones, its local header longer than the central one's (an extra field of its own).
import random
rnd = random.Random(7)
mesh = rnd.randbytes(9 * 1024 * 1024 + 12345); mesh2 = rnd.randbytes(8 * 1024 * 1024)
with zipfile.ZipFile(path('stored-big.zip'), 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('a.csv', 'cell,value\n' * 5000)
    zi = zipfile.ZipInfo('case/mesh.bin'); zi.compress_type = zipfile.ZIP_STORED
    zi.extra = struct.pack('<HH', 0xcafe, 40) + b'm' * 40
    z.writestr(zi, mesh)
    zi = zipfile.ZipInfo('case/mesh2.bin'); zi.compress_type = zipfile.ZIP_STORED
    z.writestr(zi, mesh2)
    z.writestr('z.csv', 'last\n' * 5000)
add('stored-big.zip', 'ok', files={'a.csv': 'cell,value\n' * 5000, 'case/mesh.bin': sha(mesh),
                                   'case/mesh2.bin': sha(mesh2), 'z.csv': 'last\n' * 5000})

# Info-ZIP on Windows: the header holds the OEM name ('?' for what the code page lacks) and the
# Unicode Path extra field (0x7075: version 1, CRC-32 of the header name, UTF-8 name) the real one.
# A field whose CRC does not match the header name is stale and ignored.
import zlib
def unicode_path(header, real, crc=None):
    u = real.encode('utf-8')
    zi = zipfile.ZipInfo(header)
    zi.extra = struct.pack('<HHBI', 0x7075, 5 + len(u), 1, zlib.crc32(header.encode()) if crc is None else crc) + u
    return zi
with zipfile.ZipFile(path('unicode-path.zip'), 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr(unicode_path('??.txt', '名前.txt'), 'a')
    z.writestr(unicode_path('???.txt', '名字前.txt'), 'b')
    z.writestr(unicode_path('plain.txt', 'stale-name.txt', crc=1), 'c')
add('unicode-path.zip', 'ok', files={'名前.txt': 'a', '名字前.txt': 'b', 'plain.txt': 'c'})

# --- hostile or broken: refused with exit 65, naming the entry -----------------------------
zwrite('comment-len.zip', [('c.txt', 'c')], comment=b'short')
d = bytearray(open(path('comment-len.zip'), 'rb').read())
struct.pack_into('<H', d, d.rfind(b'PK\x05\x06') + 20, 200)  # says 200 comment bytes; 5 follow
open(path('comment-len.zip'), 'wb').write(bytes(d))
add('comment-len.zip', 'refuse', 'comment length (200) disagrees with the end of the file')
with zipfile.ZipFile(path('extra-overrun.zip'), 'w') as z:
    zi = zipfile.ZipInfo('x.txt'); zi.extra = struct.pack('<HH', 0xcafe, 4) + b'abcd'
    z.writestr(zi, 'x')
patch_cd('extra-overrun.zip', lambda d, p: struct.pack_into('<H', d, p + 46 + 5 + 2, 100))
add('extra-overrun.zip', 'refuse', 'claims 100 bytes', 'x.txt')
zwrite('slip.zip', [('ok.txt', 'fine'), ('../canary/pwned.txt', 'x')])
add('slip.zip', 'refuse', 'escapes the target', '../canary/pwned.txt')
zwrite('slip-deep.zip', [('a/../../canary/pwned.txt', 'x')])
add('slip-deep.zip', 'refuse', 'escapes the target', 'a/../../canary/pwned.txt')
zwrite('absolute.zip', [('/tmp/ferry-canary-absolute.txt', 'x')])
add('absolute.zip', 'refuse', 'absolute path', '/tmp/ferry-canary-absolute.txt')
zwrite('drive.zip', [('C:\\canary\\pwned.txt', 'x')])
add('drive.zip', 'refuse', 'absolute path', 'C:\\canary\\pwned.txt')
with zipfile.ZipFile(path('symlink.zip'), 'w') as z:
    zi = zipfile.ZipInfo('link'); zi.create_system = 3; zi.external_attr = 0o120777 << 16
    z.writestr(zi, '../canary')
    z.writestr('link/pwned.txt', 'x')
add('symlink.zip', 'refuse', 'symbolic link', 'link')
zwrite('crc.zip', [('data.txt', 'payload ' * 100)])
patch_cd('crc.zip', lambda d, p: d.__setitem__(slice(p + 16, p + 20), b'\x00\x00\x00\x00'))
add('crc.zip', 'refuse', 'CRC-32', 'data.txt')
with zipfile.ZipFile(path('stored-big-crc.zip'), 'w', zipfile.ZIP_STORED) as z:  # one byte of its data flipped
    z.writestr('mesh.bin', mesh)
d = bytearray(open(path('stored-big-crc.zip'), 'rb').read()); d[5_000_000] ^= 0xff
open(path('stored-big-crc.zip'), 'wb').write(bytes(d))
add('stored-big-crc.zip', 'refuse', 'CRC-32', 'mesh.bin')
zwrite('size-lie.zip', [('lie.txt', 'A' * 5000)])
patch_cd('size-lie.zip', lambda d, p: d.__setitem__(slice(p + 24, p + 28), struct.pack('<I', 100)))
add('size-lie.zip', 'refuse', 'inflates to more than', 'lie.txt')
plain = open(path('plain.zip'), 'rb').read()
open(path('truncated.zip'), 'wb').write(plain[: len(plain) - 30])
add('truncated.zip', 'refuse', 'not a valid zip')
open(path('html.zip'), 'w').write('<html><body><h1>403 Forbidden</h1></body></html>\n')
add('html.zip', 'refuse', 'not a valid zip')
zwrite('bzip2.zip', [('b.txt', 'bz' * 100)], compression=zipfile.ZIP_BZIP2)
add('bzip2.zip', 'refuse', 'bzip2', 'b.txt')
zwrite('lzma.zip', [('l.txt', 'lz' * 100)], compression=zipfile.ZIP_LZMA)
add('lzma.zip', 'refuse', 'LZMA', 'l.txt')
zwrite('encrypted.zip', [('secret.txt', 'x' * 100)])
def set_encrypted(d, p):
    d[p + 8] |= 1
    d[6] |= 1  # the local header's flags too
patch_cd('encrypted.zip', set_encrypted)
add('encrypted.zip', 'refuse', 'encrypted', 'secret.txt')
zwrite('bomb.zip', [('zeros.bin', b'\0' * (40 * 1024 * 1024))])
add('bomb.zip', 'refuse', '--max-extract', None, ['--max-extract', '10MiB'])
with warnings.catch_warnings():  # the duplicate is the point: no "Duplicate name" warning on stderr
    warnings.simplefilter('ignore')
    zwrite('dup.zip', [('same.txt', 'one'), ('same.txt', 'two')])
add('dup.zip', 'refuse', 'appears twice', 'same.txt')
# Two central-directory records pointing at one local entry (overlapping entries: a zip bomb shape).
zwrite('overlap.zip', [('one.txt', 'overlap ' * 100)])
d = bytearray(open(path('overlap.zip'), 'rb').read())
cd = d.find(b'PK\x01\x02'); eocd = d.rfind(b'PK\x05\x06')
rec = bytearray(d[cd:eocd]); rec2 = bytearray(rec); rec2[46:46 + 7] = b'two.txt'
end = bytearray(d[eocd:]); struct.pack_into('<HHII', end, 8, 2, 2, len(rec) * 2, cd)
open(path('overlap.zip'), 'wb').write(bytes(d[:cd]) + bytes(rec) + bytes(rec2) + bytes(end))
add('overlap.zip', 'refuse', 'overlaps', 'one.txt')

json.dump(cases, open(path('cases.json'), 'w'), indent=1)
