import { STORE_GROUPS } from '../../config.ts';
import { RUN_OWN_FLAGS } from '../../config/run-flags.ts';
import type { CommandSpec } from '../spec.ts';

export const RUN: CommandSpec = {
  name: 'run',
  usage: ['ferry run [options] [--] SOLVER [ARGS...]'],
  summary: 'download input, run SOLVER under mpirun, upload, wipe',
  about: `Downloads the input into the run directory (a .zip is extracted), runs SOLVER under
mpirun -np N, uploads every file the run created or changed to the output prefix, verifies
each upload (size + ETag), writes <output>_manifest.json, the run log as <output>_ferry.log and,
for a complete run, <output>_SUCCESS last; only then it deletes what it accounts for: the inputs
as extracted, the outputs the run created as uploaded, and — when they sit at the top of the run
directory — the --aws-config, --azure-config, --vars, --proxy-auth-file and --proxy-pac files and
ferry itself (each named in the log; never uploaded, wherever they sit). Anything else stays,
files that were there before ferry started always (listed in the log and the manifest); ferry.log
stays. Inputs are checked before anything is downloaded: a key that would land outside the run
directory (65), two inputs on one path or one over a file that was there before (64).`,
  flags: RUN_OWN_FLAGS,
  groups: STORE_GROUPS,
  solverAtFirstPositional: true,
  examples: [
    './ferry run --aws-config config -- converge super',
    './ferry run --vars vars.txt --aws-config config --np 16 -- converge super',
    './ferry run --input s3://b/input/case.zip --output s3://b/output/case/ --no-mpi -- ./run.sh',
    'HTTPS_PROXY=http://proxy.corp:8080 ./ferry run --proxy-auth-file proxy-auth --aws-config config -- converge super',
    './ferry run --aws-config config --azure-config azure --input s3://b/input/case.zip \\',
    '  --output az://simdata/results/case/ -- converge super',
  ],
};
