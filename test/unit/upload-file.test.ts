import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { parseFor } from '../../agent/commands/spec.ts';
import { PUT } from '../../agent/commands/put/spec.ts';
import { s3Settings } from '../../agent/config.ts';
import { ByteBudget } from '../../agent/store/budget.ts';
import { uploadFile } from '../../agent/s3/upload.ts';

/** A stand-in client that records each command's name and input. */
function recorder() {
  const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
  const client = {
    send: async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: cmd.constructor.name, input: cmd.input });
      if (cmd.constructor.name === 'CreateMultipartUploadCommand') return { UploadId: 'u1' };
      if (cmd.constructor.name === 'UploadPartCommand') return { ETag: `"e${String(cmd.input.PartNumber)}"` };
      return {};
    },
  } as unknown as S3Client;
  return { client, sent };
}

describe('uploadFile: SSE and storage class pass-through, and the optional SHA-256', () => {
  const settings = (argv: string[]) => s3Settings(parseFor(PUT, argv), {}, '/');
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sse-'));
  const small = join(dir, 'small');
  const big = join(dir, 'big');
  writeFileSync(small, 'x');
  writeFileSync(big, Buffer.alloc(11 * 1024 * 1024, 1));

  it(
    '--sse aws:kms --sse-kms-key-id K --storage-class STANDARD_IA reach PutObject and CreateMultipartUpload, not ' +
      'UploadPart',
    async () => {
      const { objectParams } = settings([
        '--sse',
        'aws:kms',
        '--sse-kms-key-id',
        'K',
        '--storage-class',
        'STANDARD_IA',
      ]);
      const { client, sent } = recorder();
      const budget = new ByteBudget(16 * 1024 * 1024, 8 * 1024 * 1024);
      const opts = { partSize: 8 * 1024 * 1024, partsPerFile: 2, budget, objectParams };
      await uploadFile(client, small, 1, { scheme: 's3', bucket: 'b', key: 'small' }, opts);
      await uploadFile(client, big, 11 * 1024 * 1024, { scheme: 's3', bucket: 'b', key: 'big' }, opts);
      const want = { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'K', StorageClass: 'STANDARD_IA' };
      expect(sent.find((c) => c.name === 'PutObjectCommand')!.input).toMatchObject(want);
      expect(sent.find((c) => c.name === 'CreateMultipartUploadCommand')!.input).toMatchObject(want);
      const parts = sent.filter((c) => c.name === 'UploadPartCommand');
      expect(parts.map((c) => c.input.PartNumber).sort()).toEqual([1, 2]); // 11 MiB in 8 MiB parts
      for (const c of parts) {
        expect(c.input.ServerSideEncryption).toBeUndefined();
        expect(typeof c.input.ContentMD5).toBe('string');
      }
      expect(sent.map((c) => c.name)).toContain('CompleteMultipartUploadCommand');
    },
  );

  it('refuses unknown SSE modes and a KMS key without aws:kms', () => {
    expect(() => settings(['--sse', 'rot13'])).toThrow(/AES256 or aws:kms/);
    expect(() => settings(['--sse-kms-key-id', 'K'])).toThrow(/needs --sse aws:kms/);
  });

  it("hashes the whole file with SHA-256 only when asked (ferry run's manifest), multipart too", async () => {
    const { createHash } = await import('node:crypto');
    const { readFileSync } = await import('node:fs');
    const { client } = recorder();
    const budget = new ByteBudget(16 * 1024 * 1024, 8 * 1024 * 1024);
    const opts = { partSize: 8 * 1024 * 1024, partsPerFile: 2, budget };
    const want = createHash('sha256').update(readFileSync(big)).digest('hex');
    expect(
      (await uploadFile(client, big, 11 * 1024 * 1024, { scheme: 's3', bucket: 'b', key: 'big' }, opts)).sha256,
    ).toBe(want);
    expect(
      (
        await uploadFile(
          client,
          big,
          11 * 1024 * 1024,
          { scheme: 's3', bucket: 'b', key: 'big' },
          { ...opts, sha256: false },
        )
      ).sha256,
    ).toBeUndefined();
    expect(
      (await uploadFile(client, small, 1, { scheme: 's3', bucket: 'b', key: 'small' }, { ...opts, sha256: false }))
        .sha256,
    ).toBeUndefined();
  });
});
