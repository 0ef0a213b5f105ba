import { STORE_GROUPS } from '../../config.ts';
import { MAX_EXTRACT } from '../../config/run-flags.ts';
import type { CommandSpec } from '../spec.ts';

export const GET: CommandSpec = {
  name: 'get',
  usage: ['ferry get [options] URI DIR'],
  summary: 'download (and extract) only',
  about: `  s3://b/k.zip       extracted into DIR
  s3://b/k           saved as DIR/<last part of the key>
  s3://b/prefix/     every object under it, relative paths kept (zips extracted)
  az://ACCOUNT/CONTAINER/…   the same on Azure Blob`,
  flags: [MAX_EXTRACT],
  groups: STORE_GROUPS,
  examples: ['ferry get --aws-config config s3://my-simulation-data/input/hsdi.zip ./hsdi'],
};
