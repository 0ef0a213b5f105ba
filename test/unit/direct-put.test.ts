import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directCounts, encodeKey, learnShape, sendPut } from '../../agent/s3/direct-put.ts';

const signed = (scope: string) =>
  `AWS4-HMAC-SHA256 Credential=AKID/20261202/${scope}/aws4_request, SignedHeaders=host, Signature=ab`;

describe('learnShape', () => {
  const sdkRequest = {
    method: 'PUT',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 7480,
    path: '/bkt/a%20b/c%2Bd%281%29%C3%A9.txt',
    query: { 'x-id': 'PutObject' },
    headers: {
      'content-md5': 'x',
      'content-type': 'application/octet-stream',
      'content-length': '2',
      'user-agent': 'aws-sdk-js/3',
      host: '127.0.0.1:7480',
      'amz-sdk-invocation-id': 'id',
      'amz-sdk-request': 'attempt=1; max=3',
      'x-amz-date': '20261202T160251Z',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-amz-server-side-encryption': 'AES256',
      'x-amz-checksum-crc32': 'AAAAAA==',
      'X-Amz-Security-Token': 'token',
      authorization: signed('eu-west-3/s3'),
    },
  };

  it('keeps the addressing, the query and the headers every PUT shares; drops what is per request', () => {
    const s = learnShape(sdkRequest, 'a b/c+d(1)é.txt');
    expect(s).toEqual({
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 7480,
      pathPrefix: '/bkt/',
      query: { 'x-id': 'PutObject' },
      headers: {
        'content-type': 'application/octet-stream',
        'user-agent': 'aws-sdk-js/3',
        host: '127.0.0.1:7480',
        'x-amz-server-side-encryption': 'AES256',
      },
      region: 'eu-west-3',
      service: 's3',
    });
  });

  it('virtual-hosted addressing: the prefix is /', () => {
    const s = learnShape({ ...sdkRequest, hostname: 'bkt.s3.eu-west-3.amazonaws.com', path: '/k/x.txt' }, 'k/x.txt');
    expect(s?.pathPrefix).toBe('/');
  });

  it('learns nothing from a request it could not copy', () => {
    const h = sdkRequest.headers;
    expect(learnShape(sdkRequest, 'other.txt'), 'a path not built from the key').toBeUndefined();
    expect(learnShape({ ...sdkRequest, headers: { ...h, 'content-encoding': 'aws-chunked' } }, 'a b/c+d(1)é.txt')).toBe(
      undefined,
    );
    const v4a = { ...h, authorization: 'AWS4-ECDSA-P256-SHA256 Credential=AKID/20261202/s3/aws4_request, …' };
    expect(learnShape({ ...sdkRequest, headers: v4a }, 'a b/c+d(1)é.txt'), 'SigV4a').toBeUndefined();
    expect(learnShape({ ...sdkRequest, method: 'POST' }, 'a b/c+d(1)é.txt')).toBeUndefined();
  });

  it('encodes a key as the SDK does: each segment, / kept', () => {
    expect(encodeKey("a b/c+d(1)é*!'.txt")).toBe('a%20b/c%2Bd%281%29%C3%A9%2A%21%27.txt');
  });
});

describe('sendPut against a local HTTP server', () => {
  let server: Server;
  let url = '';
  const seen: Array<{ sdk: boolean; path: string; headers: IncomingMessage['headers']; body: string }> = [];
  /** What the server answers direct (non-SDK) requests: 200, or a status that refuses them. */
  let directAnswer = 200;
  /** Answers for the next direct requests, ahead of directAnswer. */
  const nextDirect: number[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const sdk = req.headers['amz-sdk-invocation-id'] !== undefined;
        seen.push({ sdk, path: req.url ?? '', headers: req.headers, body: body.toString() });
        const status = sdk ? 200 : (nextDirect.shift() ?? directAnswer);
        const etag = `"${createHash('md5').update(body).digest('hex')}"`;
        // (ferry's proxy agent marks a 407 it learnt from so: agent/net/core.ts)
        const refused = status === 407 ? { 'x-ferry-proxy-retry': 'http://proxy' } : {};
        res.writeHead(status, status === 200 ? { ETag: etag } : { 'Content-Type': 'application/xml', ...refused });
        res.end(status === 200 ? '' : '<Error><Code>InternalError</Code><Message>no</Message></Error>');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const client = () =>
    new S3Client({
      region: 'eu-west-3',
      endpoint: url,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret', sessionToken: 'tok' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({}),
      maxAttempts: 2,
    });
  const put = (c: S3Client, key: string, text: string, signal?: AbortSignal) => {
    const Body = Buffer.from(text);
    const ContentMD5 = createHash('md5').update(Body).digest('base64');
    return sendPut(
      c,
      new PutObjectCommand({ Bucket: 'bkt', Key: key, Body, ContentLength: Body.length, ContentMD5 }),
      signal,
    );
  };

  /** A client whose first PUT (through the SDK) has taught it the bucket's shape; `seen` emptied after it. */
  const learnt = async () => {
    const c = client();
    await put(c, 'learn.txt', 'x');
    seen.length = 0;
    return c;
  };

  it('the first PUT goes through the SDK; the next ones direct, signed with the region, token and MD5', async () => {
    const c = client();
    seen.length = 0;
    expect((await put(c, 'first.txt', 'one')).ETag).toBe(`"${createHash('md5').update('one').digest('hex')}"`);
    expect((await put(c, 'dir/a b+c.txt', 'two')).ETag).toBe(`"${createHash('md5').update('two').digest('hex')}"`);
    expect(seen.map((q) => q.sdk)).toEqual([true, false]);
    const d = seen[1];
    expect(d.path).toBe('/bkt/dir/a%20b%2Bc.txt?x-id=PutObject');
    expect(d.body).toBe('two');
    expect(d.headers['content-md5']).toBe(createHash('md5').update('two').digest('base64'));
    expect(d.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(d.headers['x-amz-security-token']).toBe('tok');
    expect(d.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/eu-west-3\/s3\/aws4_request, /);
    expect(d.headers.authorization).toContain('content-md5');
    expect(directCounts(c)).toEqual({ direct: 1, again: 0 });
    c.destroy();
  });

  it('a direct PUT the server refuses is sent again through the SDK (its answer is the result)', async () => {
    const c = await learnt();
    directAnswer = 500;
    try {
      expect((await put(c, 'refused.txt', 'again')).ETag).toBe(`"${createHash('md5').update('again').digest('hex')}"`);
    } finally {
      directAnswer = 200;
    }
    expect(seen.map((q) => [q.sdk, q.path.split('?')[0]])).toEqual([
      [false, '/bkt/refused.txt'],
      [true, '/bkt/refused.txt'],
    ]);
    expect(directCounts(c)).toEqual({ direct: 1, again: 1 });
    c.destroy();
  });

  it('a 407 the proxy agent learnt from (a renewed Digest nonce) is sent once more direct', async () => {
    const c = await learnt();
    nextDirect.push(407);
    await put(c, 'nonce.txt', 'n');
    expect(seen.map((q) => q.sdk)).toEqual([false, false]);
    nextDirect.push(407, 407);
    await put(c, 'twice.txt', 't');
    expect(
      seen.map((q) => q.sdk),
      'refused twice: the SDK',
    ).toEqual([false, false, false, false, true]);
    c.destroy();
  });

  it('an aborted run: the direct PUT throws the abort, nothing is sent again', async () => {
    const c = await learnt();
    const stop = new AbortController();
    stop.abort(new Error('the run was stopped'));
    await expect(put(c, 'late.txt', 'late', stop.signal)).rejects.toThrow();
    expect(seen.filter((q) => q.path.startsWith('/bkt/late.txt'))).toEqual([]);
    expect(directCounts(c).again).toBe(0);
    c.destroy();
  });

  it('files over 1 MiB always go through the SDK', async () => {
    const c = await learnt();
    await put(c, 'big.bin', 'b'.repeat(1024 * 1024 + 1));
    expect(seen.map((q) => q.sdk)).toEqual([true]);
    c.destroy();
  });
});
