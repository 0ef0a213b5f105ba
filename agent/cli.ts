import { EXIT, FerryError, isAbort } from './errors.ts';
import { MAIN_HELP } from './help.ts';
import { Log } from './log.ts';
import { versionLine } from './version.ts';
import { signalExit, type CommandContext } from './commands/context.ts';

type Command = (ctx: CommandContext) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.ts')).runCommand,
  get: async () => (await import('./commands/get.ts')).getCommand,
  put: async () => (await import('./commands/put.ts')).putCommand,
};

/** Runs one ferry command and returns the process exit code; never throws. */
export async function main(argv: string[], log = new Log()): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`${versionLine()}\n`);
    return EXIT.ok;
  }
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd === undefined ? process.stderr : process.stdout).write(MAIN_HELP);
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    log.error(`usage: unknown command '${cmd}'\n  hint: commands are run, get, put; see ferry --help`);
    return EXIT.usage;
  }

  const stop = new AbortController();
  const hardStop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stop.signal.aborted) {
      log.info(`received ${signal}: stopping; outputs that exist will still be uploaded (send it again to stop transfers)`);
      stop.abort({ signal, name: 'AbortError', message: `received ${signal}` });
    } else {
      log.info(`received ${signal} again: stopping transfers; nothing unverified is deleted`);
      hardStop.abort({ signal, name: 'AbortError', message: `received ${signal}` });
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const command = await load();
    return await command({ argv: rest, env: process.env, cwd: process.cwd(), log, stop: stop.signal, hardStop: hardStop.signal });
  } catch (err) {
    if (stop.signal.aborted && (isAbort(err) || !(err instanceof FerryError))) {
      const sig = (stop.signal.reason as { signal?: string }).signal;
      log.info(`stopped by ${sig}`);
      return signalExit(sig);
    }
    if (err instanceof FerryError) {
      log.error(err.render());
      return err.exitCode;
    }
    log.error(`internal error: ${(err as Error)?.stack ?? String(err)}\n  hint: this is a bug in ferry; please report it with ferry.log`);
    return 70;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    log.detachFile();
  }
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ferry: internal error: ${String(err)}\n`);
    process.exitCode = 70;
  },
);
