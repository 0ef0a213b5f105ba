import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface S3Env {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  accessKey2: string;
  secretKey2: string;
  kind: string;
}
