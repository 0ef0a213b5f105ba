import type { StorageClass } from '@aws-sdk/client-s3';
import type { ObjectParams } from '../config.ts';

/** ferry's object settings as the SDK types them (the storage class is checked by the server). */
export function sdkParams(
  p: ObjectParams | undefined,
): Omit<ObjectParams, 'StorageClass'> & { StorageClass?: StorageClass } {
  return (p ?? {}) as Omit<ObjectParams, 'StorageClass'> & { StorageClass?: StorageClass };
}
