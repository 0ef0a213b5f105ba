import { STORE_GROUPS } from '../../config.ts';
import { text, texts, toggle } from '../../flags/flag.ts';
import { OUTPUT } from '../../config/run-flags.ts';
import type { CommandSpec } from '../spec.ts';

export const INPUTS = texts('inputs', {
  arg: 'URI',
  help: 'input prefix (every .zip under it) or zip URI; may repeat',
});
export const DIR = text('dir', { arg: 'DIR', help: 'where inputs.csv and ferry-vars.txt go (default: .)' });
export const FORCE = toggle('force', { dflt: false, help: 'overwrite inputs.csv and ferry-vars.txt' });

export const DOE_INIT: CommandSpec = {
  name: 'doe init',
  usage: [
    'ferry doe init --inputs s3://BUCKET/input/ --output s3://BUCKET/output/ [--dir DIR] [--force] [-- SOLVER...]',
  ],
  summary: 'set up a DOE: inputs.csv, the vars template, the job setup',
  about: `One row per input zip: writes inputs.csv (s3_input,s3_output; the output prefix is named after
the zip) and ferry-vars.txt (the template the platform renders per row), and prints the job
setup: files to upload, template, command line, cores per slot, the ferry policy to attach.`,
  flags: [INPUTS, OUTPUT, DIR, FORCE],
  groups: STORE_GROUPS,
  examples: ['ferry doe init --inputs s3://my-simulation-data/input/ --output s3://my-simulation-data/output/'],
};
