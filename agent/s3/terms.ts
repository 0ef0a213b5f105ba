import type { StoreTerms } from '../store/store.ts';

/** S3's words, and the IAM action each step needs. */
export const S3_TERMS: StoreTerms = {
  name: 'S3',
  key: 'S3 key',
  needs: {
    read: 's3:GetObject (and s3:ListBucket)',
    put: 's3:PutObject',
    verify: 's3:GetObject or s3:ListBucket',
    remove: 's3:DeleteObject',
    multipart: 's3:PutObject and s3:AbortMultipartUpload',
  },
};
