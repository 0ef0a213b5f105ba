import { STORE_GROUPS } from '../../config.ts';
import { INPUT, OUTPUT } from '../../config/run-flags.ts';
import type { CommandSpec } from '../spec.ts';

export const CHECK: CommandSpec = {
  name: 'check',
  usage: ['ferry check [--input URI...] [--output URI] [options]'],
  summary: 'would a run get through? credentials, route, clock, read, write',
  about: `A preflight before submitting a DOE: run it on a node (or a laptop) with the job's config file.
Prints one line each:
  - each input: readable (HEAD; a prefix is listed), its size;
  - the output prefix: writable: a probe object <output>.ferry-check-<random> is put, verified and
    deleted; an upload in parts is started and aborted (what a failed big upload needs);
  - where the credentials came from (profile, kind, role, expiry; never a secret) and the caller
    identity (STS GetCallerIdentity, where the endpoint serves it);
  - region, endpoint, STS endpoint, the route of each and where it came from (--proxy, HTTPS_PROXY,
    PAC, WPAD), and per proxy the schemes offered, the one used and as whom (principal or account);
  - the clock offset against the server's Date;
  - this node: its processor, the build of ferry that runs (linux-x64 or linux-arm64: the file to
    upload for such nodes), and whether ferry's native addon loads here.
A refused step names the action the policy lacks (e.g. s3:PutObject).`,
  flags: [INPUT, OUTPUT],
  groups: STORE_GROUPS,
  examples: [
    'ferry check --aws-config config --input s3://my-simulation-data/input/hsdi.zip \\',
    '  --output s3://my-simulation-data/output/hsdi/',
    'ferry check --aws-config config --profile cfd --output s3://my-simulation-data/output/',
  ],
  exit: `Exit: 0 only when a real run would get through the store parts; else the first failure's code
(66 a missing input, 77 denied or bad credentials, 69 unreachable, 73 a probe that does not read back).`,
};
