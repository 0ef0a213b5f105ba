// NTLMv2 (MS-NLMP), client side only: the three messages a proxy's NTLM handshake needs. No LM,
// no NTLMv1, no signing or sealing: a proxy only checks who we are. Unit-tested against the
// published vectors of MS-NLMP 4.2.4.
import { createHmac, randomBytes } from 'node:crypto';
import { md4 } from './md4.ts';

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
const UNICODE = 0x00000001;
const OEM = 0x00000002;
const KEY_EXCH = 0x40000000;
/** Unicode, OEM, request target, NTLM, always sign, extended session security, 128-bit. */
const NEGOTIATE_FLAGS = 0x20088207;
const AV_EOL = 0;
const AV_TIMESTAMP = 7;

const hmacMd5 = (key: Buffer, ...data: Buffer[]) => {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return h.digest();
};

/** MD4 of the UTF-16LE password: the NT hash, the one secret NTLM derives everything from. */
export function ntHash(password: string): Buffer {
  return md4(Buffer.from(password, 'utf16le'));
}

/** NTOWFv2(Passwd, User, UserDom) = HMAC_MD5(NT hash, UNICODE(Uppercase(User) + UserDom)). */
export function ntowfv2(password: string, user: string, domain: string): Buffer {
  return hmacMd5(ntHash(password), Buffer.from(user.toUpperCase() + domain, 'utf16le'));
}

/** The NEGOTIATE_MESSAGE (type 1), no domain or workstation: the proxy's helper fills them in. */
export function negotiateMessage(): Buffer {
  const m = Buffer.alloc(32);
  SIGNATURE.copy(m);
  m.writeUInt32LE(1, 8);
  m.writeUInt32LE(NEGOTIATE_FLAGS, 12);
  return m;
}

export interface Challenge {
  flags: number;
  serverChallenge: Buffer;
  targetInfo: Buffer;
}

/** Reads the CHALLENGE_MESSAGE (type 2) a proxy sent; throws on anything else. */
export function parseChallenge(msg: Buffer): Challenge {
  if (msg.length < 32 || !msg.subarray(0, 8).equals(SIGNATURE) || msg.readUInt32LE(8) !== 2) {
    throw new Error('the proxy sent an NTLM message that is not a challenge (type 2)');
  }
  let targetInfo = Buffer.alloc(0);
  if (msg.length >= 48) {
    const len = msg.readUInt16LE(40);
    const off = msg.readUInt32LE(44);
    // Some helpers (squid's ntlm_fake_auth) announce target info past the message's end: use none.
    if (off + len <= msg.length) targetInfo = Buffer.from(msg.subarray(off, off + len));
  }
  return { flags: msg.readUInt32LE(20), serverChallenge: Buffer.from(msg.subarray(24, 32)), targetInfo };
}

/** The AV pair `id` of a target info block, if present. */
function avPair(info: Buffer, id: number): Buffer | undefined {
  for (let i = 0; i + 4 <= info.length;) {
    const avId = info.readUInt16LE(i);
    const len = info.readUInt16LE(i + 2);
    if (avId === AV_EOL) return undefined;
    if (avId === id) return info.subarray(i + 4, i + 4 + len);
    i += 4 + len;
  }
  return undefined;
}

/** Windows FILETIME: 100 ns ticks since 1601-01-01, little-endian. */
function fileTime(ms: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE((BigInt(ms) + 11644473600000n) * 10000n);
  return b;
}

export interface V2Responses {
  ntProofStr: Buffer;
  /** NTProofStr followed by the temp blob: what goes into the NtChallengeResponse field. */
  ntResponse: Buffer;
  lmResponse: Buffer;
  sessionBaseKey: Buffer;
}

/** MS-NLMP 3.3.2: the NTLMv2 and LMv2 responses for a server challenge. */
export function v2Responses(
  key: Buffer,
  serverChallenge: Buffer,
  clientChallenge: Buffer,
  time: Buffer,
  targetInfo: Buffer,
): V2Responses {
  const temp = Buffer.concat([
    Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]),
    time,
    clientChallenge,
    Buffer.alloc(4),
    targetInfo,
    Buffer.alloc(4),
  ]);
  const ntProofStr = hmacMd5(key, serverChallenge, temp);
  return {
    ntProofStr,
    ntResponse: Buffer.concat([ntProofStr, temp]),
    lmResponse: Buffer.concat([hmacMd5(key, serverChallenge, clientChallenge), clientChallenge]),
    sessionBaseKey: hmacMd5(key, ntProofStr),
  };
}

export interface NtlmUser {
  /** As given in DOMAIN\user (the domain may be empty). */
  domain: string;
  user: string;
  password: string;
  workstation?: string;
}

/** The AUTHENTICATE_MESSAGE (type 3) answering `challenge`. */
export function authenticateMessage(
  who: NtlmUser,
  challenge: Challenge,
  now = Date.now(),
  clientChallenge = randomBytes(8),
): Buffer {
  const key = ntowfv2(who.password, who.user, who.domain);
  const serverTime = avPair(challenge.targetInfo, AV_TIMESTAMP);
  const r = v2Responses(
    key,
    challenge.serverChallenge,
    clientChallenge,
    serverTime ? Buffer.from(serverTime) : fileTime(now),
    challenge.targetInfo,
  );
  // With a server timestamp the LMv2 response is sent as zeros (MS-NLMP 3.1.5.1.2).
  const lm = serverTime ? Buffer.alloc(24) : r.lmResponse;
  const unicode = (challenge.flags & UNICODE) !== 0;
  const text = (s: string) => Buffer.from(s, unicode ? 'utf16le' : 'latin1');
  const fields = [lm, r.ntResponse, text(who.domain), text(who.user), text(who.workstation ?? ''), Buffer.alloc(0)];
  const head = Buffer.alloc(64);
  SIGNATURE.copy(head);
  head.writeUInt32LE(3, 8);
  let offset = head.length;
  fields.forEach((f, i) => {
    head.writeUInt16LE(f.length, 12 + i * 8);
    head.writeUInt16LE(f.length, 14 + i * 8);
    head.writeUInt32LE(offset, 16 + i * 8);
    offset += f.length;
  });
  // One character set, the one used: a server that echoes both (squid's helpers) reads OEM first.
  head.writeUInt32LE((challenge.flags & ~KEY_EXCH & (unicode ? ~OEM : ~UNICODE)) >>> 0, 60);
  return Buffer.concat([head, ...fields]);
}
