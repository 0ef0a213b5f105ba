import { createHash, createHmac } from 'node:crypto';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { Sha256 } from '../../agent/s3/sts.ts';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const mac = (key: string | Buffer, ...parts: Array<string | Buffer>) => {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe("ferry's SHA-256 for the signer", () => {
  it('is HMAC-SHA-256 for short and long messages, in one piece or several, string and byte keys', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const derived = createHmac('sha256', 'k').update('d').digest();
    const long = 'AWS4-HMAC-SHA256\n20261203T080000Z\n20261203/us-east-1/s3/aws4_request\n' + 'a'.repeat(64);
    for (const key of [secret, derived, new Uint8Array(derived)]) {
      const k = typeof key === 'string' ? key : Buffer.from(key);
      for (const parts of [['AKIDEXAMPLE'], ['AKID', 'EXAMPLE'], [long], ['x'.repeat(40), 'y'.repeat(40)], ['']]) {
        for (let round = 0; round < 2; round++) {
          // (the second round is answered from what the first kept: it must not differ)
          const h = new Sha256(key);
          for (const p of parts) h.update(p);
          expect(hex(await h.digest())).toBe(mac(k, ...parts));
        }
      }
    }
    const bytes = new Sha256(secret);
    bytes.update(new Uint8Array(Buffer.from('AKIDEXAMPLE')));
    expect(hex(await bytes.digest())).toBe(mac(secret, 'AKIDEXAMPLE'));
  });

  it('is SHA-256 without a key; each caller gets its own copy of a kept MAC', async () => {
    const h = new Sha256();
    h.update('abc');
    h.update(new Uint8Array([1, 2, 3]));
    expect(hex(await h.digest())).toBe(
      createHash('sha256')
        .update('abc')
        .update(Buffer.from([1, 2, 3]))
        .digest('hex'),
    );
    const first = await new Sha256('key').digest();
    first.fill(0);
    expect(hex(await new Sha256('key').digest())).toBe(mac('key'));
  });

  it('signs a request exactly as a plain HMAC does', async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
    const signer = (sha256: typeof Sha256) =>
      new SignatureV4({ credentials, region: 'us-east-1', service: 's3', sha256, uriEscapePath: false });
    // node's crypto, a new key object at every HMAC (as ferry's hash was, and the SDK's is)
    class Plain {
      private readonly h;
      constructor(secret?: string | Uint8Array) {
        this.h = secret ? createHmac('sha256', secret) : createHash('sha256');
      }
      update(d: string | Uint8Array) {
        this.h.update(d);
      }
      digest() {
        return Promise.resolve(new Uint8Array(this.h.digest()));
      }
    }
    const sdkHash = Plain as unknown as typeof Sha256;
    for (let i = 0; i < 3; i++) {
      const req = () =>
        new HttpRequest({
          method: 'PUT',
          protocol: 'http:',
          hostname: '127.0.0.1',
          port: 7480,
          path: `/bucket/logs/log_${i}.txt`,
          headers: { host: '127.0.0.1:7480', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-md5': 'x' },
          body: 'step',
        });
      const at = { signingDate: new Date(Date.UTC(2026, 11, 3, 8, i)) };
      const ours = (await signer(Sha256).sign(req(), at)) as HttpRequest;
      const theirs = (await signer(sdkHash).sign(req(), at)) as HttpRequest;
      expect(ours.headers.authorization).toBe(theirs.headers.authorization);
    }
  });
});
