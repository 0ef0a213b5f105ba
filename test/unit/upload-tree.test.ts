import { describe, expect, it } from 'vitest';
import { parseUri } from '../../agent/location.ts';
import { Log } from '../../agent/log.ts';
import { UPLOADS_UNDER_WAY, uploadTree, type UploadOutcome, type Uploader } from '../../agent/transfer/upload.ts';

describe('uploadTree over a tree of many files', () => {
  it(`keeps at most ${UPLOADS_UNDER_WAY} upload calls under way, and returns every outcome in order`, async () => {
    let under = 0;
    let most = 0;
    const up = {
      bytes: 0,
      prefix: parseUri('s3://bucket/out/', '--output'),
      async upload(rel: string): Promise<UploadOutcome> {
        most = Math.max(most, ++under);
        await new Promise((r) => setTimeout(r, 1));
        under--;
        return { rel, size: 1, verified: true };
      },
    } as unknown as Uploader;
    const files = Array.from({ length: 3 * UPLOADS_UNDER_WAY + 7 }, (_, i) => `d/f_${i}`);
    const r = await uploadTree(up, files, new Log({ quiet: true }));
    expect(most).toBe(UPLOADS_UNDER_WAY); // full, and never more: not one parked call per file
    expect(r.outcomes.map((o) => o.rel)).toEqual(files);
    expect(r.failed).toEqual([]);
  });
});
