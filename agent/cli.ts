import { EXIT, FerryError, isAbort, signalExit } from './errors.ts';
import { COMMANDS, commandNamed } from './commands/index.ts';
import type { CommandSpec } from './commands/spec.ts';
import { flagsOf, renderHelp } from './flags/help.ts';
import { parseArgs } from './flags/parse.ts';
import { closest } from './flags/suggest.ts';
import { HELP } from './flags/flag.ts';
import { mainHelp } from './help.ts';
import { Log, type LogOptions } from './log.ts';
import { Progress } from './transfer/progress.ts';
import { envSecrets } from './secrets.ts';
import { manyListeners } from './signals.ts';
import { wrongArchitecture } from './platform.ts';
import { isSingleExecutable, versionInfo, versionLine } from './version.ts';

/** `--help` among the command's own options (not among the solver's arguments). */
function wantsHelp(spec: CommandSpec, argv: string[]): boolean {
  try {
    const o = { command: spec.name, solverAtFirstPositional: spec.solverAtFirstPositional };
    return parseArgs(argv, flagsOf(spec), o).get(HELP);
  } catch {
    return false; // the command itself reports the usage error
  }
}

/** --log-format and --quiet, read before the command parses its flags (so its errors obey them). */
function logOptions(argv: string[]): LogOptions {
  const opts: LogOptions = { tty: process.stderr.isTTY === true };
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    const a = argv[i];
    if (a === '--quiet') opts.quiet = true;
    const v = a === '--log-format' ? argv[i + 1] : a.startsWith('--log-format=') ? a.slice(13) : undefined;
    if (v === 'json' || v === 'text') opts.format = v;
  }
  return opts;
}

/** `--version`, `--help`, `doe` alone and unknown commands: answered without loading a command. */
function answerAlone(cmd: string | undefined, others: string[], log: Log): number | undefined {
  if (cmd === 'doe' && others[0] !== undefined && !others[0].startsWith('-'))
    return unknownCommand(`doe ${others[0]}`, log);
  if (cmd === 'doe') {
    const asked = others[0] === '--help' || others[0] === '-h';
    (asked ? process.stdout : process.stderr).write(doeHelp());
    return asked ? EXIT.ok : EXIT.usage;
  }
  if (cmd === 'help' && others.length > 0) return helpFor(others.join(' '), log);
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`${versionLine()}\n`);
    return EXIT.ok;
  }
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd === undefined ? process.stderr : process.stdout).write(mainHelp());
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  if (commandNamed(cmd)) return undefined;
  return unknownCommand(cmd, log);
}

function unknownCommand(cmd: string, log: Log): number {
  const names = COMMANDS.map((c) => c.name);
  // `doe statsu` and `statsu` both mean `doe status`
  const meant = closest(cmd, names) ?? closest(`doe ${cmd.replace(/^doe /, '')}`, names);
  const hint = meant ? `did you mean ferry ${meant}? ` : '';
  log.error(`usage: unknown command '${cmd}'\n  hint: ${hint}the commands are ${names.join(', ')}; see ferry --help`);
  return EXIT.usage;
}

/** `ferry help COMMAND`: that command's help. */
function helpFor(name: string, log: Log): number {
  const spec = commandNamed(name);
  if (!spec) return unknownCommand(name, log);
  process.stdout.write(renderHelp(spec));
  return EXIT.ok;
}

/** `ferry doe`, `ferry doe --help`: the doe commands. */
function doeHelp(): string {
  const doe = COMMANDS.filter((c) => c.name.startsWith('doe '));
  return `Usage:\n${doe.map((c) => `  ${c.usage[0]}\n      ${c.summary}`).join('\n')}\nSee ferry doe COMMAND --help.\n`;
}

/**
 * SIGINT/SIGTERM: the first stops the solver and downloads (outputs are still uploaded), a second
 * stops transfers too. Returns the two signals and a function that stops listening.
 */
function listenForSignals(log: Log): { stop: AbortController; hardStop: AbortController; off: () => void } {
  const stop = new AbortController();
  const hardStop = new AbortController();
  manyListeners(stop.signal, hardStop.signal);
  const onSignal = (signal: NodeJS.Signals) => {
    const reason = { signal, name: 'AbortError', message: `received ${signal}` };
    if (!stop.signal.aborted) {
      log.info(
        `received ${signal}: stopping; outputs that exist will still be uploaded (send it again to stop transfers)`,
      );
      stop.abort(reason);
    } else {
      log.info(`received ${signal} again: stopping transfers; nothing unverified is deleted`);
      hardStop.abort(reason);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { stop, hardStop, off: () => (process.off('SIGINT', onSignal), process.off('SIGTERM', onSignal)) };
}

/** What a failed command prints and exits with: a stop by signal, a FerryError, or a bug (70). */
function ending(err: unknown, stop: AbortSignal, log: Log): number {
  if (stop.aborted && (isAbort(err) || !(err instanceof FerryError))) {
    const sig = (stop.reason as { signal?: string }).signal;
    log.info(`stopped by ${sig}`);
    return signalExit(sig);
  }
  if (err instanceof FerryError) {
    log.error(err.render());
    return err.exitCode;
  }
  const stack = (err as Error)?.stack ?? String(err);
  log.error(`internal error: ${stack}\n  hint: this is a bug in ferry; please report it with ferry.log`);
  return EXIT.internal;
}

/**
 * A console that goes away (`ferry run … | head -3`, a platform's log pipe that closes) must not end
 * the run: a write to it fails with EPIPE, said as an 'error' event, which unheard would crash ferry.
 * Heard, the console is simply gone; every line still reaches ferry.log, and the run ends as it would have.
 */
function surviveClosedConsole(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}

/** Runs one ferry command and returns the process exit code; never throws. */
export async function main(argv: string[], log = new Log(logOptions(argv))): Promise<number> {
  const [first, ...others] = argv;
  // Two-word commands: `doe init`, `doe rehearse`, `doe status`.
  const twoWords = first === 'doe' && ['init', 'rehearse', 'status'].includes(others[0]);
  const [cmd, rest] = twoWords ? [`doe ${others[0]}`, others.slice(1)] : [first, others];
  // The executable of another architecture, run by an emulator: refused before anything else.
  const foreign = isSingleExecutable() ? wrongArchitecture(process.env, versionInfo().version) : undefined;
  if (foreign) {
    log.error(foreign.render());
    return foreign.exitCode;
  }
  const answered = answerAlone(cmd, others, log);
  if (answered !== undefined) return answered;
  const entry = commandNamed(cmd!)!;
  if (wantsHelp(entry, rest)) {
    process.stdout.write(renderHelp(entry));
    return EXIT.ok;
  }
  log.masker.add(...envSecrets(process.env));
  const { stop, hardStop, off } = listenForSignals(log);
  try {
    const command = await entry.load();
    const env = { ...process.env };
    const progress = new Progress(log);
    return await command({
      argv: rest,
      env,
      cwd: process.cwd(),
      log,
      progress,
      stop: stop.signal,
      hardStop: hardStop.signal,
    });
  } catch (err) {
    return ending(err, stop.signal, log);
  } finally {
    off();
    log.detachFile();
  }
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
surviveClosedConsole();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ferry: internal error: ${String(err)}\n`);
    process.exitCode = 70;
  },
);
