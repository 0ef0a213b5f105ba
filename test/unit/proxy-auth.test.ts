import { describe, expect, it } from 'vitest';
import { parseChallenges, strongest } from '../../agent/net/challenge.ts';
import { DigestSession, isStale } from '../../agent/net/digest.ts';
import { md4 } from '../../agent/net/md4.ts';
import {
  authenticateMessage,
  negotiateMessage,
  ntHash,
  ntowfv2,
  parseChallenge,
  v2Responses,
} from '../../agent/net/ntlm.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('MD4 (RFC 1320 test suite)', () => {
  it.each([
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ])('md4(%j)', (text, digest) => {
    expect(md4(Buffer.from(text)).toString('hex')).toBe(digest);
  });
});

// MS-NLMP 4.2.1 common values and 4.2.4 "NTLMv2 Authentication".
describe('NTLMv2 against the MS-NLMP 4.2.4 vectors', () => {
  const serverChallenge = hex('0123456789abcdef');
  const clientChallenge = hex('aaaaaaaaaaaaaaaa');
  const time = Buffer.alloc(8);
  // 4.2.4.3 CHALLENGE_MESSAGE: target info = MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server"
  const challengeMessage = hex(
    '4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000' +
      '060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c00530065007200760065' +
      '00720000000000',
  );

  it('NT hash of "Password" (4.2.2.1.2 NTOWFv1)', () => {
    expect(ntHash('Password').toString('hex')).toBe('a4f49c406510bdcab6824ee7c30fd852');
  });
  it('NTOWFv2("Password", "User", "Domain") (4.2.4.1.1)', () => {
    expect(ntowfv2('Password', 'User', 'Domain').toString('hex')).toBe('0c868a403bfd7a93a3001ef22ef02e3f');
  });
  it('reads the challenge message (4.2.4.3): server challenge and target info', () => {
    const c = parseChallenge(challengeMessage);
    expect(c.serverChallenge).toEqual(serverChallenge);
    expect(c.targetInfo.toString('hex')).toBe(
      '02000c0044006f006d00610069006e0001000c005300650072007600650072000000' + '0000',
    );
    expect(c.flags).toBe(0xe28a8233);
  });
  it('NTProofStr, temp, LMv2 response and session base key (4.2.4.1.2, 4.2.4.1.3, 4.2.4.2.1, 4.2.4.2.2)', () => {
    const { targetInfo } = parseChallenge(challengeMessage);
    const r = v2Responses(ntowfv2('Password', 'User', 'Domain'), serverChallenge, clientChallenge, time, targetInfo);
    expect(r.ntProofStr.toString('hex')).toBe('68cd0ab851e51c96aabc927bebef6a1c');
    expect(r.ntResponse.subarray(16).toString('hex')).toBe(
      '0101000000000000' +
        '0000000000000000' +
        'aaaaaaaaaaaaaaaa' +
        '00000000' +
        targetInfo.toString('hex') +
        '00000000',
    );
    expect(r.lmResponse.toString('hex')).toBe('86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa');
    expect(r.sessionBaseKey.toString('hex')).toBe('8de40ccadbc14a82f15cb0ad0de95ca3');
  });
  it('the AUTHENTICATE message carries domain, user and the NTLMv2 response where its fields say', () => {
    const c = parseChallenge(challengeMessage);
    const msg = authenticateMessage({ domain: 'Domain', user: 'User', password: 'Password' }, c, 0, clientChallenge);
    const field = (i: number) => {
      const len = msg.readUInt16LE(12 + i * 8);
      const off = msg.readUInt32LE(16 + i * 8);
      return msg.subarray(off, off + len);
    };
    expect(msg.subarray(0, 12).toString('latin1')).toBe('NTLMSSP\0\x03\0\0\0');
    expect(field(1).subarray(0, 16).toString('hex')).toBe(
      v2Responses(
        ntowfv2('Password', 'User', 'Domain'),
        serverChallenge,
        clientChallenge,
        field(1).subarray(24, 32),
        c.targetInfo,
      ).ntProofStr.toString('hex'),
    );
    expect(field(2).toString('utf16le')).toBe('Domain');
    expect(field(3).toString('utf16le')).toBe('User');
    expect(msg.includes(Buffer.from('Password', 'utf16le'))).toBe(false);
    expect(msg.includes(ntHash('Password'))).toBe(false);
  });
  it('the NEGOTIATE message is a type 1 asking for NTLM and Unicode', () => {
    const m = negotiateMessage();
    expect(m.subarray(0, 12).toString('latin1')).toBe('NTLMSSP\0\x01\0\0\0');
    expect(m.readUInt32LE(12) & 0x201).toBe(0x201);
  });
});

// RFC 7616 3.9.1: the same request answered with SHA-256 and with MD5.
describe('Digest against RFC 7616 section 3.9.1', () => {
  const challenge = (algorithm: string) =>
    parseChallenges([
      `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, ` +
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    ])[0];
  const cnonce = () => 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
  it.each([
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
  ])('%s response', (algorithm, response) => {
    const d = new DigestSession(challenge(algorithm), 'Mufasa', 'Circle of Life', cnonce);
    const header = d.authorization('GET', '/dir/index.html');
    expect(header).toContain(`response="${response}"`);
    expect(header).toContain('nc=00000001');
    expect(header).toContain('qop=auth,');
    expect(header).toContain('opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"');
    expect(d.authorization('GET', '/dir/index.html')).toContain('nc=00000002');
  });
  it('a stale=true challenge is recognised as a renewal', () => {
    expect(isStale(parseChallenges(['Digest realm="r", nonce="n2", stale=true'])[0])).toBe(true);
    expect(isStale(parseChallenges(['Digest realm="r", nonce="n2"'])[0])).toBe(false);
  });
});

describe('Proxy-Authenticate: several challenges, the strongest chosen', () => {
  it('separate headers and comma-joined ones parse alike', () => {
    const one = parseChallenges(['Basic realm="squid"', 'Digest realm="r", nonce="abc", qop="auth"', 'NTLM']);
    const joined = parseChallenges(['Basic realm="squid", Digest realm="r", nonce="abc", qop="auth", NTLM']);
    for (const c of [one, joined]) {
      expect(c.map((x) => x.scheme)).toEqual(['basic', 'digest', 'ntlm']);
      expect(c[1].params).toEqual({ realm: 'r', nonce: 'abc', qop: 'auth' });
    }
  });
  it('an NTLM challenge with its base64 message is a token68', () => {
    const [c] = parseChallenges(['NTLM TlRMTVNTUAACAAAAAAAAACgAAAABggAAU3J2Tm9uY2UAAAAAAAAAAA==']);
    expect(c.token).toBe('TlRMTVNTUAACAAAAAAAAACgAAAABggAAU3J2Tm9uY2UAAAAAAAAAAA==');
  });
  it('NTLM beats Digest beats Basic; SHA-256 Digest beats MD5; Negotiate alone gives none', () => {
    const all = parseChallenges(['Negotiate', 'Basic realm="x"', 'Digest realm="r", nonce="n"', 'NTLM']);
    expect(strongest(all)?.scheme).toBe('ntlm');
    expect(strongest(all.filter((c) => c.scheme !== 'ntlm'))?.scheme).toBe('digest');
    const two = parseChallenges([
      'Digest realm="r", nonce="n", algorithm=MD5',
      'Digest realm="r", nonce="m", algorithm=SHA-256',
    ]);
    expect(strongest(two)?.params.algorithm).toBe('SHA-256');
    expect(strongest(parseChallenges(['Basic realm="x"']))?.scheme).toBe('basic');
    expect(strongest(parseChallenges(['Negotiate']))).toBeUndefined();
    expect(
      strongest(parseChallenges(['Digest realm="r", nonce="n", algorithm=SHA-512-256', 'Basic realm="b"']))?.scheme,
    ).toBe('basic');
  });
});
