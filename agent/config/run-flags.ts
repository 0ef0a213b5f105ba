// The flags of `ferry run` (and of each row of `ferry doe rehearse`), declared once: config/run.ts
// turns them into the RunConfig, commands/run/spec.ts into --help.
import { secs, size, text, texts, toggle, count } from '../flags/flag.ts';

export const INPUT = texts('input', {
  arg: 'URI',
  help:
    's3://b/k.zip (extracted), s3://b/k (as is), s3://b/prefix/ (all objects);\n' +
    'az://ACCOUNT/CONTAINER/… the same on Azure Blob; may repeat\n' +
    '(ferry run: default env s3_input)',
});
/** An output prefix: a row's (run, check, policy), or a DOE's with one folder per row (doe init, doe status). */
export const OUTPUT = text('output', {
  arg: 'URI',
  help:
    's3://b/prefix/ or az://ACCOUNT/CONTAINER/prefix/ for outputs (ferry run: default env\n' +
    "s3_output; doe init / doe status: the DOE's prefix, each row's in a folder under it)",
});
export const VARS = text('vars', {
  arg: 'FILE',
  help:
    'key=value file (# comments, optional quotes) with s3_input / s3_output;\n' +
    'its values win over the environment, flags win over it',
});
export const WORKDIR = text('workdir', { arg: 'DIR', help: 'run directory (default: current directory)' });
export const NP = count('np', { dflt: undefined, help: 'MPI ranks (default: env RESCALE_CORES_PER_SLOT, else 8)' });
export const MPIRUN = text('mpirun', { arg: 'PATH', help: 'launcher (default: mpirun on PATH)' });
export const MPI_ARG = texts('mpi-arg', { arg: 'ARG', help: 'extra launcher argument (repeatable)' });
export const MPI = toggle('mpi', { dflt: true, help: 'run SOLVER directly, without a launcher' });
export const HOSTFILE = text('hostfile', {
  arg: 'FILE',
  help: 'machinefile (default: $HOME/machinefile when it exists)',
});
export const UPLOAD_ALL = toggle('upload-all', {
  dflt: false,
  help:
    "upload every file in the run directory, like 'aws s3 sync .'\n" +
    "(the job's credential files and ferry itself are never uploaded)",
});
export const KEEP = toggle('keep', { dflt: false, help: 'delete nothing after the upload' });
export const WIPE_ALL = toggle('wipe-all', {
  dflt: false,
  help:
    'after every upload is verified, empty the whole run directory (ferry.log\n' +
    "stays), like the old 'rm -rf *'; refused in a home directory or at a mount point",
});
export const TAKE_OVER = toggle('take-over', {
  dflt: false,
  help:
    "take the output prefix's lease from a run that stopped renewing it\n" +
    '(a second run on one output prefix otherwise exits 75)',
});
export const SOLVER_ENV_CREDENTIALS = toggle('solver-env-credentials', {
  dflt: false,
  help:
    'leave the store credentials and tokens (AWS_ACCESS_KEY_ID…, AZURE_*,\n' +
    "IDENTITY_HEADER…) and the account in HTTP(S)_PROXY in the solver's\n" +
    'environment (removed by default; see README "Secrets")',
});
export const DRY_RUN = toggle('dry-run', {
  dflt: false,
  help: 'show what would be downloaded, launched, uploaded and deleted; change nothing',
});
export const SETTLE = secs('settle', {
  dflt: 30,
  help:
    'while the solver runs, upload outputs unchanged for this long (default 30); a file no\n' +
    'process of the run holds open for writing goes up at once, unless it changed after its upload',
});
export const EXCLUDE = texts('exclude', {
  arg: 'GLOB',
  help:
    'leave files matching GLOB out (relative to the run directory, e.g. console.txt, logs/**/*.tmp):\n' +
    'never uploaded, not in the manifest, kept in the run directory (--wipe-all removes them too); may repeat',
});
export const RESUME_SKIP = texts('resume-skip', {
  arg: 'GLOB',
  help:
    'on a resumed attempt, leave objects matching GLOB in the store only (not restored into the\n' +
    'run directory; still listed in the manifest), e.g. post/**/*.h5; may repeat',
});
export const CHECKPOINT = text('checkpoint', {
  arg: 'PROFILE',
  help:
    "the solver's checkpoints: converge (RESTART asks for one, restart*.rst are they, a resumed run\n" +
    'sets restart_flag 1 in inputs.in); another solver: --checkpoint-files and --checkpoint-trigger',
});
export const CHECKPOINT_FILES = text('checkpoint-files', {
  arg: 'GLOB',
  help: "another solver's checkpoint files (a resumed run gets FERRY_RESUMED_FROM=<the newest>)",
});
export const CHECKPOINT_TRIGGER = text('checkpoint-trigger', {
  arg: 'NAME',
  help: 'the file that asks that solver for a checkpoint (it deletes it when done)',
});
export const CHECKPOINT_WAIT = secs('checkpoint-wait', {
  dflt: 600,
  help:
    'at SIGTERM or an interruption notice, how long to wait for the checkpoint the solver was\n' +
    'asked for before the signal goes on (default 600)',
});
export const INTERRUPTION_NOTICE = toggle('interruption-notice', {
  dflt: true,
  help: "do not watch the cloud's interruption notice (EC2 spot, Azure Scheduled Events)",
});
export const RERUN = toggle('rerun', {
  dflt: false,
  help:
    "run the row even when its output prefix already holds this row's complete manifest\n" +
    '(same inputs and ETags, same solver command) and reads back whole: by default ferry exits 0 at once',
});
export const LIVE_UPLOAD = toggle('live-upload', { dflt: true, help: 'upload only after the solver exits' });
export const GRACE = secs('grace', {
  dflt: 60,
  help:
    'after SIGTERM/SIGINT, how long the solver gets to stop before it and\n' +
    'every process it started are killed; also how long processes the run left\n' +
    'behind get after SIGTERM once the launcher exited (default 60)',
});
/** Also `ferry get`'s. */
export const MAX_EXTRACT = size('max-extract', {
  dflt: undefined,
  help: 'refuse input archives that unpack to more than SIZE (default: the free space)',
});

export const RUN_OWN_FLAGS = [
  INPUT,
  OUTPUT,
  VARS,
  WORKDIR,
  NP,
  MPIRUN,
  MPI_ARG,
  MPI,
  HOSTFILE,
  UPLOAD_ALL,
  KEEP,
  WIPE_ALL,
  TAKE_OVER,
  SOLVER_ENV_CREDENTIALS,
  DRY_RUN,
  RERUN,
  EXCLUDE,
  RESUME_SKIP,
  CHECKPOINT,
  CHECKPOINT_FILES,
  CHECKPOINT_TRIGGER,
  CHECKPOINT_WAIT,
  INTERRUPTION_NOTICE,
  SETTLE,
  LIVE_UPLOAD,
  GRACE,
  MAX_EXTRACT,
];
