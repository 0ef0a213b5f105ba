import { parseSize, str, type FlagSpec, type ParsedArgs } from '../args.ts';

// The flags each command accepts (help.ts describes them). S3_FLAGS: every store's (S3 and Azure).
export const S3_FLAGS: FlagSpec[] = [
  { name: 'endpoint', kind: 'string' },
  { name: 'region', kind: 'string' },
  { name: 'profile', kind: 'string' },
  { name: 'aws-config', kind: 'string' },
  { name: 'azure-config', kind: 'string' },
  { name: 'retries', kind: 'string' },
  { name: 'timeout', kind: 'string' },
  { name: 'proxy', kind: 'string' },
  { name: 'proxy-pac', kind: 'string' },
  { name: 'proxy-auth-file', kind: 'string' },
  { name: 'sse', kind: 'string' },
  { name: 'sse-kms-key-id', kind: 'string' },
  { name: 'storage-class', kind: 'string' },
  { name: 'concurrency', kind: 'string' },
  { name: 'part-concurrency', kind: 'string' },
  { name: 'small-concurrency', kind: 'string' },
  { name: 'part-size', kind: 'string' },
  { name: 'memory', kind: 'string' },
  { name: 'log-format', kind: 'string' },
  { name: 'quiet', kind: 'bool' },
  { name: 'help', kind: 'bool' },
];

export const GET_FLAGS: FlagSpec[] = [...S3_FLAGS, { name: 'max-extract', kind: 'string' }];

export function maxExtract(p: ParsedArgs): number | undefined {
  const v = str(p, 'max-extract');
  return v === undefined ? undefined : parseSize(v, '--max-extract');
}

export const RUN_FLAGS: FlagSpec[] = [
  ...GET_FLAGS,
  { name: 'input', kind: 'multi' },
  { name: 'output', kind: 'string' },
  { name: 'vars', kind: 'string' },
  { name: 'workdir', kind: 'string' },
  { name: 'np', kind: 'string' },
  { name: 'mpirun', kind: 'string' },
  { name: 'mpi-arg', kind: 'multi' },
  { name: 'mpi', kind: 'bool' },
  { name: 'hostfile', kind: 'string' },
  { name: 'upload-all', kind: 'bool' },
  { name: 'keep', kind: 'bool' },
  { name: 'wipe-all', kind: 'bool' },
  { name: 'take-over', kind: 'bool' },
  { name: 'solver-env-credentials', kind: 'bool' },
  { name: 'live-upload', kind: 'bool' },
  { name: 'settle', kind: 'string' },
  { name: 'grace', kind: 'string' },
  { name: 'dry-run', kind: 'bool' },
];

export const DOE_STATUS_FLAGS: FlagSpec[] = [
  ...S3_FLAGS,
  { name: 'output', kind: 'string' },
  { name: 'json', kind: 'bool' },
  { name: 'retry-csv', kind: 'string' },
  { name: 'html', kind: 'string' },
];

export const CHECK_FLAGS: FlagSpec[] = [
  ...S3_FLAGS,
  { name: 'input', kind: 'multi' },
  { name: 'output', kind: 'string' },
];

export const VERIFY_FLAGS: FlagSpec[] = [
  ...S3_FLAGS,
  { name: 'deep', kind: 'bool' },
  { name: 'any-status', kind: 'bool' },
];
