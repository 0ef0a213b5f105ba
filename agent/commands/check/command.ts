import { randomBytes } from 'node:crypto';
import { storeSettings, transferSettings } from '../../config.ts';
import { INPUT, OUTPUT } from '../../config/run-flags.ts';
import { refuseOverlap } from '../../config/run.ts';
import { describeHolder, isStale, leaseTtlMs, viewLease } from '../../prefix/lease-view.ts';
import { LEASE } from '../../names.ts';
import { EXIT, FerryError, usageError } from '../../errors.ts';
import { asPrefix, formatUri, parseUri, under, withKey, type Location } from '../../location.ts';
import { formatBytes } from '../../log.ts';
import { loadNative } from '../../native/index.ts';
import { ALLOW_EMULATION, ARCHES, hostArch } from '../../platform.ts';
import type { Stores } from '../../stores.ts';
import { canSelfCheck, type Step, type Store } from '../../store/store.ts';
import { openStores, type CommandContext } from '../context.ts';
import { CHECK } from './spec.ts';
import { parseFor } from '../spec.ts';

/** One line of the report, and the exit code of the first failure. */
class Report {
  code = EXIT.ok as number;
  /** Facts about the setup come first, though learnt last (the clock needs answers). */
  readonly facts: string[] = [];
  private readonly checks: string[] = [];
  constructor(private readonly ctx: CommandContext) {}

  line(what: string, text: string, to = this.checks): void {
    to.push(`${what.padEnd(12)} ${text}\n`);
  }

  print(): void {
    process.stdout.write(this.ctx.log.masker.mask([...this.facts, ...this.checks].join('')));
  }

  fail(what: string, text: string, err: unknown): void {
    const e = err instanceof FerryError ? err : undefined;
    if (this.code === EXIT.ok) this.code = e?.exitCode ?? EXIT.internal;
    this.line(what, `FAILED: ${text}: ${e?.message ?? String(err)}`);
    if (e?.hint) this.line('', `hint: ${e.hint}`);
  }
}

/**
 * `ferry check [--input URI…] [--output URI]`: a preflight before submitting a DOE. One line per fact
 * (credentials, caller, region, endpoint, route, proxy authentication, clock), then that each input is readable and the
 * output prefix writable (a probe object put, verified and deleted; an upload in parts started and
 * aborted). Exit 0 only when a real run would get through the store parts; else the first failure's code.
 */
export async function checkCommand(ctx: CommandContext): Promise<number> {
  const p = parseFor(CHECK, ctx.argv);
  const inputs = [...p.get(INPUT), ...p.positionals].map((t) => parseUri(t, '--input'));
  const outText = p.get(OUTPUT);
  if (inputs.length === 0 && !outText)
    throw usageError(
      'ferry check needs --input URI and/or --output URI',
      'e.g. ferry check --input s3://b/in/case.zip --output s3://b/out/case/',
    );
  const output = outText ? asPrefix(parseUri(outText, '--output')) : undefined;
  if (output) refuseOverlap(inputs, output); // a run would refuse it (64)
  const stores = openStores(ctx, storeSettings(p, ctx.env, ctx.cwd), transferSettings(p));
  const report = new Report(ctx);
  try {
    const first = output ?? inputs[0];
    const store = await stores.for(first).catch((err) => report.fail('store', formatUri(first), err));
    if (!store) {
      report.print();
      return report.code;
    }
    for (const input of inputs) await checkInput(await stores.for(input), input, ctx, report);
    if (output) await checkOutput(await stores.for(output), output, ctx, report);
    if (output) await checkLease(await stores.for(output), output, ctx, report);
    await describe(store, stores, report, first);
    report.line('node', nodeFact(ctx.env), report.facts);
  } finally {
    await stores.close();
  }
  report.line(
    'result',
    report.code === EXIT.ok ? 'OK: a run would get through the store parts' : `NOT OK (exit ${report.code})`,
  );
  report.print();
  return report.code;
}

/** This node and this ferry: the processor, the executable's architecture, the native addon. */
function nodeFact(env: NodeJS.ProcessEnv): string {
  const host = hostArch();
  const cpu = host === undefined ? 'processor not known' : `${ARCHES[host] ?? host} processor`;
  const allowed = env[ALLOW_EMULATION] === '1' ? ` (${ALLOW_EMULATION}=1)` : '';
  const emulated = host !== undefined && host !== process.arch ? ` under an emulator${allowed}` : '';
  const n = loadNative(env);
  const addon = n.ok ? `native addon loaded (${Object.keys(n.native).sort().join(', ')})` : n.why;
  return `${cpu}; ferry for linux-${process.arch}${emulated}; ${addon}`;
}

async function describe(store: Store, stores: Stores, report: Report, loc: Location): Promise<void> {
  if (!canSelfCheck(store)) {
    report.line(
      'credentials',
      `not described for ${loc.scheme}:// stores yet (the checks below used them)`,
      report.facts,
    );
    return;
  }
  const facts = await store.about().catch((err) => {
    report.fail('credentials', 'cannot get them', err);
    return [] as Array<[string, string]>;
  });
  const net = await stores.network();
  for (const [what, text] of facts) {
    report.line(what, text, report.facts);
    const url = text.split(' ')[0];
    if (what !== 'endpoint' && what !== 'sts') continue;
    // the route and its source; per proxy: the schemes it offered, the one used and as whom
    for (const [w, t] of net.explain(url)) report.line(`  ${w}`, t, report.facts);
  }
}

async function checkInput(store: Store, input: Location, ctx: CommandContext, report: Report): Promise<void> {
  const uri = formatUri(input);
  const call = { phase: 'download' as const, signal: ctx.stop };
  try {
    if (input.key === '' || input.key.endsWith('/')) {
      const objects = await store.list(input, call);
      if (objects.length === 0)
        throw new FerryError(`no object under ${uri}`, {
          phase: 'download',
          exitCode: EXIT.noInput,
          hint: 'check the prefix',
        });
      const bytes = objects.reduce((n, o) => n + o.size, 0);
      report.line('input', `${uri}: readable, ${objects.length} object(s), ${formatBytes(bytes)}`);
    } else {
      const h = await store.head(input, call);
      report.line('input', `${uri}: readable, ${formatBytes(h.size)}`);
    }
  } catch (err) {
    report.fail('input', `${uri}: not readable (needs ${store.terms.needs.read})`, err);
  }
}

async function checkOutput(store: Store, output: Location, ctx: CommandContext, report: Report): Promise<void> {
  const probe = withKey(output, `${output.key}.ferry-check-${randomBytes(6).toString('hex')}`);
  const uri = formatUri(probe);
  const acts = store.terms.needs;
  const call = { phase: 'upload' as const, signal: ctx.stop, what: `writing the probe ${uri}` };
  let step: Step = 'put';
  try {
    const up = await store.putBytes(probe, Buffer.from('ferry check\n'), call);
    if (!up) throw new FerryError(`the probe ${uri} exists already`, { phase: 'upload', exitCode: EXIT.cantCreate });
    step = 'verify';
    const v = await store.verify(up, { ...call, what: `verifying the probe ${uri}` });
    if (!v.ok)
      throw new FerryError(`the probe does not read back as written: ${v.reason}`, {
        phase: 'verify',
        exitCode: EXIT.cantCreate,
      });
    step = 'remove';
    await store.remove(probe, { ...call, what: `deleting the probe ${uri}` });
    report.line('output', `${formatUri(output)}: writable (put, verified and deleted ${uri})`);
  } catch (err) {
    report.fail('output', `${formatUri(output)}: ${step} refused (needs ${acts[step]})`, err);
    return;
  }
  if (!canSelfCheck(store)) return;
  try {
    await store.multipartAbort(probe, { ...call, what: `starting and aborting an upload in parts at ${uri}` });
    report.line('multipart', `${formatUri(output)}: an upload in parts can be started and aborted`);
  } catch (err) {
    report.fail('multipart', `${formatUri(output)}: refused (needs ${acts.multipart})`, err);
  }
}

/** A run holds the output prefix now (its lease is fresh): a run would wait, then exit 75. */
async function checkLease(store: Store, output: Location, ctx: CommandContext, report: Report): Promise<void> {
  const call = { phase: 'upload' as const, signal: ctx.stop, what: 'reading the lease' };
  const got = await store.fetch(under(output, LEASE), call).catch((err) => {
    report.fail('lease', `${formatUri(output)}: cannot read it (needs ${store.terms.needs.verify})`, err);
    return null;
  });
  if (got === null) return;
  if (!got) return report.line('lease', `${formatUri(output)}: no run holds it`);
  const held = viewLease(got);
  if (isStale(held, leaseTtlMs(ctx.env)))
    return report.line('lease', `${formatUri(output)}: a dead run's lease (${describeHolder(held)}): a run takes it`);
  const busy = new FerryError(`a run holds it: ${describeHolder(held)}`, {
    phase: 'upload',
    exitCode: EXIT.busy,
    hint:
      'a run of this row now would wait for it to end, then exit 75 (of another row: 75 at once): wait for that ' +
      'run to end, or give this row its own prefix',
  });
  report.fail('lease', formatUri(output), busy);
}
