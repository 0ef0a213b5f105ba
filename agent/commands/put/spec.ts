import { STORE_GROUPS } from '../../config.ts';
import type { CommandSpec } from '../spec.ts';

export const PUT: CommandSpec = {
  name: 'put',
  usage: ['ferry put [options] DIR URI'],
  summary: 'upload (and verify) only',
  about: `Uploads every file under DIR: DIR/a/b goes to <URI>a/b. Each upload is verified (size + ETag on
S3, size + Content-MD5 on Azure Blob).
Files already under URI with the same bytes are not sent again; a _SUCCESS there is withdrawn
(the prefix is changing), and put writes no manifest (ferry run does).`,
  flags: [],
  groups: STORE_GROUPS,
  examples: [
    'ferry put --aws-config config ./results s3://my-simulation-data/output/hsdi/',
    'ferry put --azure-config azure ./results az://simdata/results/hsdi/',
  ],
};
