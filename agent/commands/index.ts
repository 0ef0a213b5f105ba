// Every command, as the entry point knows it (agent/cli.ts): each spec declares the command's flags
// and help and loads the command itself lazily.
import { CHECK } from './check/spec.ts';
import { DOE_INIT } from './doe-init/spec.ts';
import { DOE_REHEARSE } from './doe-rehearse/spec.ts';
import { DOE_STATUS } from './doe-status/spec.ts';
import { GET } from './get/spec.ts';
import { POLICY } from './policy/spec.ts';
import { PUT } from './put/spec.ts';
import { RUN } from './run/spec.ts';
import type { CommandSpec } from './spec.ts';
import { VERIFY } from './verify/spec.ts';

/** In the order ferry --help lists them. */
export const COMMANDS: CommandSpec[] = [RUN, GET, PUT, VERIFY, CHECK, POLICY, DOE_INIT, DOE_REHEARSE, DOE_STATUS];

export function commandNamed(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
