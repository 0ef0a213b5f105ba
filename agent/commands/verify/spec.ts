import { STORE_GROUPS } from '../../config.ts';
import { toggle } from '../../flags/flag.ts';
import type { CommandSpec } from '../spec.ts';

export const DEEP = toggle('deep', {
  dflt: false,
  help: "read every object and compare its sha256 with the manifest's",
});
export const ANY_STATUS = toggle('any-status', {
  dflt: false,
  help:
    'accept a manifest that is not complete (solver-failed, incomplete): check only\n' + 'that what it lists is intact',
});

export const VERIFY: CommandSpec = {
  name: 'verify',
  usage: ['ferry verify [options] URI...'],
  summary: 'is an output prefix whole, as its manifest says?',
  about: `For a pipeline that consumes outputs: checks each output prefix against its _manifest.json.
  - the manifest says complete, _SUCCESS is there, and no run holds the prefix's lease;
  - every object the manifest lists exists with the manifest's size and ETag;
  - --deep: every object is also read in full and its sha256 compared (streamed: memory stays
    small whatever the size; --concurrency objects at once, default 4);
  - no object under the prefix that the manifest does not list (ferry's own _manifest.json,
    _SUCCESS, _ferry.log aside).
Prints one line per prefix when it is whole, else one line per problem (missing, changed, sha256,
unlisted, status, running, no-manifest) and a verdict line.`,
  flags: [DEEP, ANY_STATUS],
  groups: STORE_GROUPS,
  examples: [
    'ferry verify --aws-config config s3://my-simulation-data/output/hsdi/',
    'ferry verify --deep --aws-config config s3://my-simulation-data/output/hsdi/ \\',
    '  s3://my-simulation-data/output/pintle/',
  ],
  exit: `Exit: 0 when every prefix is whole, 1 when one is not, 65 when a _manifest.json is not ferry's,
64/66/69/77 when the store cannot be read.`,
};
