// Every command, as the entry point knows it (agent/cli.ts): each spec declares the command's flags and
// help; the command itself is loaded lazily, only when it runs.
import { CHECK } from './check/spec.ts';
import { DOE_INIT } from './doe-init/spec.ts';
import { DOE_REHEARSE } from './doe-rehearse/spec.ts';
import { DOE_STATUS } from './doe-status/spec.ts';
import { GET } from './get/spec.ts';
import { POLICY } from './policy/spec.ts';
import { PUT } from './put/spec.ts';
import { RUN } from './run/spec.ts';
import type { Registered } from './spec.ts';
import { VERIFY } from './verify/spec.ts';

/** In the order ferry --help lists them; a new command is a folder (spec.ts, command.ts) and a line here. */
export const COMMANDS: Registered[] = [
  { ...RUN, load: async () => (await import('./run/command.ts')).runCommand },
  { ...GET, load: async () => (await import('./get/command.ts')).getCommand },
  { ...PUT, load: async () => (await import('./put/command.ts')).putCommand },
  { ...VERIFY, load: async () => (await import('./verify/command.ts')).verifyCommand },
  { ...CHECK, load: async () => (await import('./check/command.ts')).checkCommand },
  { ...POLICY, load: async () => (await import('./policy/command.ts')).policyCommand },
  { ...DOE_INIT, load: async () => (await import('./doe-init/command.ts')).doeInitCommand },
  { ...DOE_REHEARSE, load: async () => (await import('./doe-rehearse/command.ts')).doeRehearseCommand },
  { ...DOE_STATUS, load: async () => (await import('./doe-status/command.ts')).doeStatusCommand },
];

export function commandNamed(name: string): Registered | undefined {
  return COMMANDS.find((c) => c.name === name);
}
