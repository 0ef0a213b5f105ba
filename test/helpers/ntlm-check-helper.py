#!/usr/bin/env python3
"""A squid NTLM helper that checks the password, unlike ntlm_fake_auth: it sends a fixed-format
challenge (type 2) and accepts the AUTHENTICATE message (type 3) only when its NTLMv2 proof is
HMAC-MD5(NTOWFv2, server challenge + temp) for the configured domain, user and NTOWFv2 key (hex;
Python here has no MD4, so the test computes the key). Usage: ntlm-check-helper.py DOMAIN USER KEYHEX
"""
import base64, hmac, os, struct, sys

domain, user, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
challenge = b''


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def type2():
    global challenge
    challenge = os.urandom(8)
    flags = 0x00000001 | 0x00000200 | 0x00080000  # unicode, NTLM, extended session security
    head = b'NTLMSSP\0' + struct.pack('<I', 2) + struct.pack('<HHI', 0, 0, 48) + struct.pack('<I', flags)
    return head + challenge + b'\0' * 8 + struct.pack('<HHI', 0, 0, 48)


def field(msg, at):
    length, _, offset = struct.unpack('<HHI', msg[at:at + 8])
    return msg[offset:offset + length]


def check(msg):
    if msg[:8] != b'NTLMSSP\0' or struct.unpack('<I', msg[8:12])[0] != 3:
        return None
    nt = field(msg, 20)
    who_domain = field(msg, 28).decode('utf-16-le')
    who_user = field(msg, 36).decode('utf-16-le')
    if len(nt) < 48 or who_user.upper() != user.upper() or who_domain.upper() != domain.upper():
        return None
    proof = hmac.new(key, challenge + nt[16:], 'md5').digest()
    return who_domain + '\\' + who_user if hmac.compare_digest(proof, nt[:16]) else None


for line in sys.stdin:
    parts = line.strip().split(' ', 1)
    if parts[0] == 'YR':
        say('TT ' + base64.b64encode(type2()).decode())
    elif parts[0] == 'KK' and len(parts) == 2:
        who = check(base64.b64decode(parts[1]))
        say('OK user=' + who if who else 'ERR message="wrong password"')
    else:
        say('BH unexpected request')
