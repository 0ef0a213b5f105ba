import { STORE_GROUPS } from '../../config.ts';
import { RUN_OWN_FLAGS } from '../../config/run-flags.ts';
import { count, text } from '../../flags/flag.ts';
import type { CommandSpec } from '../spec.ts';

export const SLOTS = count('slots', { dflt: 1, help: 'rows run at once' });
export const VARS_TEMPLATE_FLAG = text('vars-template', {
  arg: 'FILE',
  help: 'the vars template rendered per row (default: ferry-vars.txt beside inputs.csv)',
});
export const REHEARSAL_DIR = text('rehearsal-dir', {
  arg: 'DIR',
  help: 'where the rows run, one fresh folder each (default: ./rehearsal)',
});

export const DOE_REHEARSE: CommandSpec = {
  name: 'doe rehearse',
  usage: [
    'ferry doe rehearse inputs.csv [--slots N] [--vars-template FILE] [--rehearsal-dir DIR] [run options] -- SOLVER...',
  ],
  summary: 'run every row of a DOE locally first',
  about: `Runs every row locally as the platform would (a fresh directory per row under ./rehearsal,
the template rendered, the --aws-config and --azure-config files copied in, N rows at once) against
the configured endpoint, then prints per row: exit code, bytes in/out, wall time, manifest status,
output. The run options are those of ferry run (--input, --output, --vars and --workdir come from
inputs.csv).`,
  flags: [SLOTS, VARS_TEMPLATE_FLAG, REHEARSAL_DIR, ...RUN_OWN_FLAGS],
  groups: STORE_GROUPS,
  examples: ['ferry doe rehearse inputs.csv --slots 2 --aws-config config -- converge super'],
};
