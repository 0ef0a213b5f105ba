// CONVERGE's restarts (its Getting Started Guide, "Restarting and Stopping CONVERGE"): restart_flag
// 1 in inputs.in makes it read restart.rst, else the highest-numbered restart*.rst. inputs.in comes
// in three layouts, and the edit keeps the one it finds, and every other byte of the file:
//   CONVERGE 3    YAML-ish blocks:    "simulation_control:" then an indented "restart_flag: 0"
//   CONVERGE 2.x  value, then name:   "0          restart_flag     Restart? (0 = no, 1 = yes)"
//   key value     name, then value:   "restart_flag 0" (ferry's stand-in solver reads this too)
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, FerryError, errnoCode, localIoError } from '../errors.ts';

export type InputsLayout = 'simulation_control' | 'value name' | 'name value';

export interface RestartFlagEdit {
  /** The file's new text (the same bytes when restart_flag was 1 already). */
  text: string;
  layout: InputsLayout;
  /** 1-based line that now says restart_flag 1 (the first, when there are several). */
  line: number;
  /** The line was added (the file had no restart_flag). */
  added: boolean;
  changed: boolean;
}

const YAML = /^(\s*restart_flag\s*:[ \t]*)([^\s#]*)(.*)$/s;
const VALUE_NAME = /^(\s*)([-+]?[\d.]+)(\s+restart_flag)(\s.*)?$/s;
const NAME_VALUE = /^(\s*restart_flag\s+)([^\s#]+)(.*)$/s;
const BLOCK = /^simulation_control\s*:\s*(#.*)?$/;
const TOP_KEY = /^[A-Za-z_]\w*\s*:(\s|$)/;

/** The value `v` as "1", padded to keep the columns after it where they were. */
const one = (v: string) => '1'.padEnd(v.length, ' ');

/** `line` (no terminator) saying restart_flag 1, with its layout; undefined when it is not a restart_flag line. */
function editLine(line: string): [string, InputsLayout] | undefined {
  if (/^\s*#/.test(line)) return undefined;
  let m = YAML.exec(line);
  if (m) return [`${m[1]}${m[2] ? one(m[2]) : m[1].endsWith(':') ? ' 1' : '1'}${m[3]}`, 'simulation_control'];
  m = VALUE_NAME.exec(line);
  if (m) return [`${m[1]}${one(m[2])}${m[3]}${m[4] ?? ''}`, 'value name'];
  m = NAME_VALUE.exec(line);
  return m ? [`${m[1]}${one(m[2])}${m[3]}`, 'name value'] : undefined;
}

interface Line {
  body: string;
  /** "\n", "\r\n" or "" (the last line without one). */
  end: string;
}

function splitLines(text: string): Line[] {
  return (text.match(/[^\n]*\n|[^\n]+$/g) ?? []).map((l) => {
    const end = l.endsWith('\r\n') ? '\r\n' : l.endsWith('\n') ? '\n' : '';
    return { body: l.slice(0, l.length - end.length), end };
  });
}

/** The layout of a file without a restart_flag line, judged from its other lines. */
function layoutOf(lines: Line[]): InputsLayout {
  const bodies = lines.map((l) => l.body).filter((b) => b.trim() && !/^\s*#/.test(b));
  if (bodies.some((b) => TOP_KEY.test(b))) return 'simulation_control';
  const valueFirst = bodies.filter((b) => /^\s*[-+]?[\d.]\S*\s+[A-Za-z_]\w*/.test(b)).length;
  const nameFirst = bodies.filter((b) => /^\s*[A-Za-z_]\w*\s+\S/.test(b)).length;
  return valueFirst > nameFirst ? 'value name' : 'name value';
}

/** Adds a restart_flag 1 line in `layout`: under simulation_control (made when missing), else at the end. */
function addLine(lines: Line[], layout: InputsLayout, eol: string): number {
  if (lines.length > 0 && lines[lines.length - 1].end === '') lines[lines.length - 1].end = eol;
  const block = layout === 'simulation_control' ? lines.findIndex((l) => BLOCK.test(l.body)) : -1;
  if (block >= 0) {
    const child = lines.slice(block + 1).find((l) => l.body.trim() && !/^\s*#/.test(l.body));
    const indent = child && /^\s+/.exec(child.body)?.[0];
    lines.splice(block + 1, 0, { body: `${indent ?? '  '}restart_flag: 1`, end: lines[block].end || eol });
    return block + 2;
  }
  if (layout === 'simulation_control') lines.push({ body: 'simulation_control:', end: eol });
  const sample = lines.map((l) => /^(\s*[-+]?[\d.]\S*\s+)[A-Za-z_]/.exec(l.body)?.[1]).find(Boolean);
  const body =
    layout === 'simulation_control'
      ? '  restart_flag: 1'
      : layout === 'value name'
        ? `${'1'.padEnd(Math.max(2, sample?.length ?? 0), ' ')}restart_flag`
        : 'restart_flag 1';
  lines.push({ body, end: eol });
  return lines.length;
}

/**
 * inputs.in's text with restart_flag set to 1 on every restart_flag line not commented out, each in
 * its own layout; without one, a line is added in the file's layout (under `simulation_control:`,
 * or as a "value name" or "name value" line at the end). Line ends (LF or CRLF) are kept.
 */
export function setRestartFlag(text: string): RestartFlagEdit {
  const lines = splitLines(text);
  let first: { line: number; layout: InputsLayout } | undefined;
  for (const [i, l] of lines.entries()) {
    const edited = editLine(l.body);
    if (!edited) continue;
    l.body = edited[0];
    first ??= { line: i + 1, layout: edited[1] };
  }
  const textOf = () => lines.map((l) => l.body + l.end).join('');
  if (first) return { text: textOf(), ...first, added: false, changed: textOf() !== text };
  const layout = layoutOf(lines);
  const line = addLine(lines, layout, text.includes('\r\n') ? '\r\n' : '\n');
  return { text: textOf(), layout, line, added: true, changed: true };
}

/**
 * The restart file CONVERGE reads among `names` (the case directory's top level): restart.rst, else
 * the highest-numbered restart<digits>.rst.
 */
export function convergePick(names: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestN = -1;
  for (const name of names) {
    if (name === 'restart.rst') return name;
    const m = /^restart(\d+)\.rst$/.exec(name);
    if (m && Number(m[1]) > bestN) [best, bestN] = [name, Number(m[1])];
  }
  return best;
}

/** Replaces `path`'s content with `text` (latin1: byte for byte) through a temp file and a rename, keeping its mode. */
async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.ferry-tmp`;
  try {
    await writeFile(tmp, text, { encoding: 'latin1', mode: (await stat(path)).mode & 0o7777 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw localIoError(err, 'solve', path);
  }
}

/**
 * Prepares a CONVERGE case directory to resume from `checkpoint`: CONVERGE must pick that file
 * itself (restart.rst, else the highest number: `names` is the directory's top level), and
 * inputs.in gets restart_flag 1. Returns what was changed, for the log.
 */
export async function prepareConvergeResume(runDir: string, checkpoint: string, names: string[]): Promise<string[]> {
  const picked = convergePick(names);
  if (picked !== checkpoint)
    throw new FerryError(`CONVERGE would resume from ${picked ?? 'no restart file'}, not from ${checkpoint}`, {
      phase: 'solve',
      target: join(runDir, picked ?? checkpoint),
      exitCode: EXIT.dataErr,
      hint:
        'CONVERGE reads restart.rst first, else the highest-numbered restart<digits>.rst of the case directory: ' +
        `remove ${picked ?? checkpoint} from the run directory (a restart file an attempt was writing when it ` +
        "stopped, or one from the row's input), or name the checkpoints restart<digits>.rst",
    });
  const path = join(runDir, 'inputs.in');
  let text: string;
  try {
    text = await readFile(path, 'latin1');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw localIoError(err, 'solve', path);
    throw new FerryError('--checkpoint converge resumes through inputs.in, and the run directory has none', {
      phase: 'solve',
      target: path,
      exitCode: EXIT.dataErr,
      hint: 'is this row a CONVERGE case? For another solver use --checkpoint-files GLOB (and --checkpoint-trigger)',
    });
  }
  const edit = setRestartFlag(text);
  if (!edit.changed) return [`inputs.in line ${edit.line}: restart_flag is 1 already`];
  await replaceFile(path, edit.text);
  return [`inputs.in line ${edit.line}: restart_flag 1 (${edit.added ? 'added, ' : ''}${edit.layout} layout)`];
}
