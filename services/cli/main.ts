import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { toHdmError } from '../../schemas/errors.ts';
import { openLedger } from '../ledger/clickhouse-ledger.ts';
import { ledgerCredentials, registerConfigSecrets, stateDirOf } from '../runtime/runtime.ts';
import { parseMigrationConfig, type MigrationConfig } from '../../schemas/config.ts';
import { demoCommand, suggestCommand } from './wizard.commands.ts';
import { addApiCommands } from './api-commands.ts';
import { addDlqCommands } from './dlq.command.ts';
import { undoCommand } from './undo.command.ts';
import { estimateCommand } from './estimate.command.ts';
import { duration } from './duration.ts';
import { repairCommand } from './repair.command.ts';
import { userInfo } from 'node:os';
import { acceptFailures, failuresWithAcceptances, parseRecordRef, withdrawAcceptances, type RecordRef } from '../reconciler/acceptance.ts';
import { reconciliation, readiness } from '../api/cutover.ts';

export { duration };
import { deltaCommand, exitCodeOf, formatReadiness, purgeCommand, loadConfigOrFail, migrateCommand, PLATFORM_NAMES, quickstartCommand, sandboxCommand, stdio, verifyCommand } from './commands.ts';

const int = (name: string, min = 0) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`);
  return n;
};

async function ledgerOf(configFile: string, loaded?: Readonly<MigrationConfig>) {
  const config = loaded ?? loadConfigOrFail(configFile);
  await registerConfigSecrets(config);
  const { username, password } = ledgerCredentials(config);
  return openLedger({
    migration: config.name,
    url: config.ledger.clickhouseUrl,
    database: config.ledger.database,
    username,
    password,
    path: resolve(stateDirOf(config), 'ledger'),
  });
}

/** The migration file, with the ledger URL from the command line when given. */
function configOf(file: string, clickhouseUrl?: string): Readonly<MigrationConfig> {
  const config = loadConfigOrFail(file);
  if (!clickhouseUrl) return config;
  return parseMigrationConfig({ ...config, ledger: { ...config.ledger, clickhouseUrl } }, `${file} with --clickhouse-url`);
}

/** Exit code of a wrong command line (unknown command or option, missing or invalid value), as the README documents. */
export const USAGE_EXIT = 2;

const packageVersion = (): string => (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Errors commander has already printed, with the usage, before handing them to `main`. */
const printedByCommander = new WeakSet<CommanderError>();

/**
 * Commander checks required options before unknown ones, so `hdm migrate --bogus` was reported as a
 * missing --config. Required options are checked just before the action instead, after the unknown
 * options have been named.
 */
function requireOptionsAfterUnknownOnes(program: Command): void {
  const required = new Map<Command, Option[]>();
  const visit = (command: Command) => {
    const options = command.options.filter((o) => o.mandatory);
    for (const option of options) option.mandatory = false;
    if (options.length) required.set(command, options);
    command.commands.forEach(visit);
  };
  visit(program);
  program.hook('preAction', (_program, action) => {
    for (const option of required.get(action) ?? []) {
      if (action.getOptionValue(option.attributeName()) === undefined) {
        action.error(`error: required option '${option.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: USAGE_EXIT });
      }
    }
  });
}

export function buildProgram(): Command {
  const program = new Command('hdm')
    .description('helpdesk-migrator: move a whole helpdesk between platforms and prove nothing was lost or duplicated')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    // Options of a command are read after it, not by its parent: `hdm failures accept … -c m.yaml`.
    .enablePositionalOptions()
    .configureOutput({ outputError: (text, write) => write(text) })
    // Set before the subcommands are added, which inherit it: commander throws instead of exiting with 1.
    .exitOverride((err) => {
      printedByCommander.add(err);
      throw err;
    });

  program
    .command('quickstart')
    .description('demo: migrate a seeded sandbox helpdesk into an empty one and reconcile (what `npm start` runs)')
    .addOption(new Option('--tickets <n>', 'tickets in the source sandbox').default(1000).argParser(int('--tickets')))
    .addOption(new Option('--seed <n>', 'seed of the generated helpdesk').default(42).argParser(int('--seed')))
    .addOption(new Option('--from <platform>', 'source platform').choices(PLATFORM_NAMES).default('zendesk'))
    .addOption(new Option('--to <platform>', 'target platform').choices(PLATFORM_NAMES).default('freshdesk'))
    .option('--state-dir <dir>', 'state directory (wiped at start)', '.hdm/quickstart')
    .option('--json', 'print the result as JSON on stdout')
    .option('--no-progress', 'no progress bars')
    .action(async (opts) => {
      process.exitCode = await quickstartCommand({
        tickets: opts.tickets,
        seed: opts.seed,
        from: opts.from,
        to: opts.to,
        json: opts.json,
        progress: opts.progress,
        stateDir: resolve(opts.stateDir),
      });
    });

  program
    .command('migrate')
    .description('run the full migration described by a migration file; resumes an unfinished run')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .option('--restart', 'start a new full run instead of resuming an unfinished one')
    .option('--repair', 'verify, then load again exactly the records found missing (deleted on the target), mismatched or failed, then verify again')
    .option('--clickhouse-url <url>', 'ledger on this ClickHouse server instead of the embedded engine')
    .option('--no-verify', 'skip the reconciliation after the run')
    .option('--json', 'print the result as JSON on stdout')
    .option('--no-progress', 'no progress bars')
    .action(async (opts) => {
      if (opts.repair) {
        process.exitCode = await repairCommand(configOf(opts.config, opts.clickhouseUrl), { json: opts.json });
        return;
      }
      process.exitCode = await migrateCommand(configOf(opts.config, opts.clickhouseUrl), {
        configFile: opts.config,
        restart: opts.restart,
        verify: opts.verify,
        json: opts.json,
        progress: opts.progress,
      });
    });

  program
    .command('delta')
    .description('move what was created or changed at the source since the full run (or the last delta); --follow keeps streaming until cutover')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .option('--follow', 'keep running passes until stopped (Ctrl-C); each pass reads the fast lane first, and a stream whose export budget is spent waits for a later pass (2 minutes at most) instead of holding the pass up')
    .option('--interval <duration>', 'pause between passes with --follow, e.g. 30s, 2m', '30s')
    .addOption(new Option('--max-passes <n>', 'with --follow: stop after this many passes').argParser(int('--max-passes', 1)))
    .option('--clickhouse-url <url>', 'ledger on this ClickHouse server instead of the embedded engine')
    .option('--json', 'one JSON line per pass on stdout')
    .option('--verify', 'after each pass that read anything, re-check on both sides what changed since the latest verification (hdm verify --changed)')
    .action(async (opts) => {
      process.exitCode = await deltaCommand(configOf(opts.config, opts.clickhouseUrl), {
        follow: opts.follow,
        intervalMs: duration(opts.interval),
        maxPasses: opts.maxPasses,
        json: opts.json,
        verify: opts.verify,
      });
    });

  program
    .command('purge')
    .description("remove a migration's stored data: checkpoints, run log, ledger rows (after cutover, or when retention ends)")
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .option('--yes', 'confirm; nothing is removed without it')
    .action(async (opts) => {
      if (!opts.yes) throw new InvalidArgumentError('purge removes the checkpoints and the ledger of this migration: add --yes to confirm');
      process.exitCode = await purgeCommand(loadConfigOrFail(opts.config));
    });

  program
    .command('verify')
    .description('read the target back, compare it with the source, print the reconciliation')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .option('--no-source-scan', 'trust the checksums recorded at load time instead of re-reading the source')
    .option('--clickhouse-url <url>', 'ledger on this ClickHouse server instead of the embedded engine')
    .option('--changed', 're-check only the records attempted since the latest verification and carry its other rows over, as a new verification')
    .option('--json', 'print {"entities": {...}} as JSON on stdout')
    .action(async (opts) => {
      process.exitCode = await verifyCommand(configOf(opts.config, opts.clickhouseUrl), { json: opts.json, sourceScan: opts.sourceScan, changed: opts.changed });
    });

  program
    .command('sandbox')
    .description('serve a local sandbox that behaves like the platform\'s public API')
    .argument('<platform>', `one of ${PLATFORM_NAMES.join(', ')}`)
    .addOption(new Option('--port <n>', 'port (0 picks a free one)').default(0).argParser(int('--port')))
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .addOption(new Option('--tickets <n>', 'tickets to generate (0: empty helpdesk)').default(0).argParser(int('--tickets')))
    .addOption(new Option('--seed <n>', 'seed of the generated helpdesk').default(1).argParser(int('--seed')))
    .addOption(new Option('--rpm <n>', 'requests per minute before 429, in place of the plan\'s account limit').argParser(int('--rpm', 1)))
    .option('--plan <plan>', 'plan whose API limits to enforce (zendesk: team, growth, professional, enterprise, enterprise-plus; freshdesk: trial, growth, pro, enterprise; default enterprise)')
    .option('--high-volume', 'add Zendesk\'s High Volume API add-on')
    .addOption(new Option('--max-comments <n>', 'most comments after a ticket\'s description (default 30)').argParser(int('--max-comments')))
    .option('--unthrottled', 'no rate limit')
    .option('--json', 'print the URL and credentials as JSON')
    .action(async (name: string, opts) => {
      if (!(PLATFORM_NAMES as readonly string[]).includes(name)) throw new InvalidArgumentError(`unknown platform ${name}`);
      if ((opts.plan !== undefined || opts.highVolume) && !['zendesk', 'freshdesk'].includes(name)) throw new InvalidArgumentError(`the ${name} sandbox has no plans`);
      const sandbox = await sandboxCommand(name, {
        port: opts.port,
        host: opts.host,
        tickets: opts.tickets,
        seed: opts.seed,
        rpm: opts.unthrottled ? null : opts.rpm,
        plan: opts.plan,
        highVolume: opts.highVolume,
        maxComments: opts.maxComments,
        json: opts.json,
      });
      await new Promise<void>((done) => {
        // RT's sandbox is a server process of its own: without a handle of ours the event loop would
        // empty and Node would exit (code 13) with that server left running and nobody to stop it.
        const keepAlive = setInterval(() => {}, 1 << 30);
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void sandbox
            .close()
            .catch((err: unknown) => {
              process.stderr.write(`could not stop the ${name} sandbox: ${toHdmError(err).message}\n`);
              process.exitCode = 1;
            })
            .finally(() => {
              clearInterval(keepAlive);
              done();
            });
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });

  program
    .command('estimate')
    .description('count what would move (billable total) and project the duration per phase from both platforms\' rate limits; writes nothing')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .addOption(new Option('--sample <n>', 'tickets read to measure comments and attachments per ticket (drawn across the ticket IDs where the source can tell them)').default(300).argParser(int('--sample')))
    .addOption(new Option('--latency-ms <n>', 'round trip assumed per request, for what the concurrency sustains').default(300).argParser(int('--latency-ms', 1)))
    .option('--json', 'print the estimate as JSON on stdout')
    .option('--no-progress', 'no progress lines')
    .action(async (opts) => {
      process.exitCode = await estimateCommand(loadConfigOrFail(opts.config), { json: opts.json, progress: opts.progress, sampleTickets: opts.sample, latencyMs: opts.latencyMs });
    });

  program
    .command('undo')
    .description('delete from the target exactly the records a run created (never ones it only matched); without --yes, show what would go')
    .argument('<runId>', 'the run to take back (see `hdm runs`)')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .option('--yes', 'delete; without it nothing is deleted (dry run)')
    .option('--clickhouse-url <url>', 'ledger on this ClickHouse server instead of the embedded engine')
    .option('--json', 'print the report as JSON on stdout')
    .option('--no-progress', 'no progress lines')
    .action(async (runId: string, opts) => {
      process.exitCode = await undoCommand(configOf(opts.config, opts.clickhouseUrl), runId, { yes: opts.yes, json: opts.json, progress: opts.progress });
    });

  program
    .command('runs')
    .description('list the runs of a migration from the ledger')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .option('--json', 'JSON output')
    .action(async (opts) => {
      const ledger = await ledgerOf(opts.config);
      try {
        const runs = await ledger.runs();
        if (opts.json) stdio.out(JSON.stringify(runs, null, 2));
        else for (const r of runs) stdio.out(`${r.runId}  ${r.kind.padEnd(6)} ${r.status.padEnd(11)} ${r.startedAt} → ${r.finishedAt ?? '…'}${workingSetNote(r.summary)}`);
      } finally {
        await ledger.close();
      }
    });

  const failures = program
    .command('failures')
    .description('list records whose latest load attempt failed, with the reason and any acceptance; accept or withdraw named failures')
    // Its own options only before a subcommand: `hdm failures accept … -c m.yaml` gives -c to accept.
    .enablePositionalOptions()
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .addOption(new Option('--limit <n>', 'rows').default(50).argParser(int('--limit', 1)))
    .option('--json', 'JSON output')
    .action(async (opts) => {
      const ledger = await ledgerOf(opts.config);
      try {
        const rows = await failuresWithAcceptances(ledger, opts.limit);
        if (opts.json) stdio.out(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) stdio.out('no failures');
        else {
          for (const r of rows) {
            const accepted = r.accepted ? ` · ACCEPTED by ${r.accepted.by} at ${r.accepted.at}: ${r.accepted.reason}` : '';
            stdio.out(`${r.entity} ${r.sourceId}: ${r.errorCode} ${r.errorMessage} (${r.attempts} attempts)${accepted}`);
          }
        }
      } finally {
        await ledger.close();
      }
    });
  const records = (value: string, previous: RecordRef[] = []) => {
    try {
      return [...previous, parseRecordRef(value)];
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
  failures
    .command('accept')
    .description('accept named failed records as they are, with a reason: they count apart and no longer keep verify, the verdict or cutover from being clean')
    .argument('<records...>', 'records as <entity>:<source id>, e.g. ticket:4312 kbArticle:77')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .requiredOption('--reason <text>', 'why these records may stay as they are (kept in the ledger)')
    .option('--by <who>', 'who accepts them (default: the user running hdm)')
    .option('--json', 'print the acceptances as JSON')
    .action(async (refs: string[], opts) => {
      const list = refs.reduce<RecordRef[]>((all, ref) => records(ref, all), []);
      const ledger = await ledgerOf(opts.config);
      try {
        const rows = await acceptFailures(ledger, list, { by: opts.by ?? userInfo().username, reason: opts.reason });
        if (opts.json) stdio.out(JSON.stringify(rows, null, 2));
        else stdio.out(`accepted ${rows.length} failure${rows.length === 1 ? '' : 's'} as ${rows[0].acceptedBy}: ${rows.map((r) => `${r.entity}:${r.sourceId}`).join(', ')}`);
      } finally {
        await ledger.close();
      }
    });
  failures
    .command('withdraw')
    .description('take acceptances back: the records count as failed again')
    .argument('<records...>', 'records as <entity>:<source id>')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .option('--by <who>', 'who withdraws them (default: the user running hdm)')
    .option('--json', 'print {"withdrawn": n} as JSON')
    .action(async (refs: string[], opts) => {
      const list = refs.reduce<RecordRef[]>((all, ref) => records(ref, all), []);
      const ledger = await ledgerOf(opts.config);
      try {
        const withdrawn = await withdrawAcceptances(ledger, list, opts.by ?? userInfo().username);
        stdio.out(opts.json ? JSON.stringify({ withdrawn }) : `withdrew ${withdrawn} acceptance${withdrawn === 1 ? '' : 's'}`);
      } finally {
        await ledger.close();
      }
    });

  program
    .command('cutover')
    .description('the cutover verdict from the ledger: full run, delta lag, the latest verification (its age, and whether the target changed since), failures')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .option('--clickhouse-url <url>', 'ledger on this ClickHouse server instead of the embedded engine')
    .option('--json', 'print {"readiness": …, "reconciliation": …} as JSON')
    .action(async (opts) => {
      const config = configOf(opts.config, opts.clickhouseUrl);
      const ledger = await ledgerOf(opts.config, config);
      try {
        const recon = await reconciliation(ledger);
        const verdict = readiness(await ledger.runs(), recon, config.dashboard);
        if (opts.json) stdio.out(JSON.stringify({ readiness: verdict, reconciliation: recon }, null, 2));
        else stdio.out(formatReadiness(verdict));
        process.exitCode = verdict.ready ? 0 : 1;
      } finally {
        await ledger.close();
      }
    });

  program
    .command('sql')
    .description('run a read-only SQL query on the ledger (tables: runs, source_records, id_map, load_attempts, dead_letters, verifications)')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .argument('<query>', 'SQL')
    .action(async (query: string, opts) => {
      const ledger = await ledgerOf(opts.config);
      try {
        for (const row of await ledger.query(query, { readonly: true })) stdio.out(JSON.stringify(row));
      } finally {
        await ledger.close();
      }
    });

  const ids = (name: string) => (value: string) => {
    const list = value.split(',').map((v) => v.trim()).filter(Boolean);
    if (list.length === 0) throw new InvalidArgumentError(`${name} takes a comma-separated list of source IDs, e.g. 12,15`);
    return list;
  };
  program
    .command('demo')
    .description('move 20 random tickets and 20 KB articles (or the ones named) through the real pipeline and report, field by field, what arrived; re-runs update, never duplicate')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .addOption(new Option('--tickets <ids>', 'source ticket IDs, e.g. 12,15,31').argParser(ids('--tickets')))
    .addOption(new Option('--articles <ids>', 'source KB article IDs').argParser(ids('--articles')))
    .addOption(new Option('--count <n>', 'records of each kind picked at random').default(20).argParser(int('--count', 0)))
    .addOption(new Option('--pool <n>', 'records read from the start of a source stream to pick from (default 10 × count, at least 100); tickets are drawn by ID across the whole helpdesk where the source can tell its ID range, the pool only tops them up').argParser(int('--pool', 1)))
    .option('--resample', "draw a new random sample instead of re-using the previous demo's records")
    .option('--out-dir <dir>', 'where the HTML and JSON report go (default <state dir>/demo)')
    .option('--clickhouse-url <url>', 'ledger on this ClickHouse server instead of the embedded engine')
    .option('--json', 'print the report as JSON')
    .action(async (opts) => {
      process.exitCode = await demoCommand(configOf(opts.config, opts.clickhouseUrl), {
        tickets: opts.tickets,
        articles: opts.articles,
        count: opts.count,
        pool: opts.pool,
        resample: opts.resample,
        json: opts.json,
        outDir: opts.outDir ? resolve(opts.outDir) : undefined,
      });
    });

  const mapping = program.command('mapping').description('shape the mapping of a migration file');
  mapping
    .command('suggest')
    .description("read both platforms' schemas (fields, statuses, priorities, types, groups, agents) and write a complete starting mapping to edit")
    .requiredOption('-c, --config <file>', 'migration file (YAML): source, target and credentials')
    .option('-o, --out <file>', 'write the mapping here (default: print it)')
    .action(async (opts) => {
      process.exitCode = await suggestCommand(opts.config, loadConfigOrFail(opts.config), { out: opts.out });
    });

  addApiCommands(program, int);
  addDlqCommands(program);
  requireOptionsAfterUnknownOnes(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // An InvalidArgumentError thrown by an action reaches here unprinted.
      if (!printedByCommander.has(err)) stdio.err(`hdm: ${err.message}`);
      process.exitCode = err.exitCode === 0 ? 0 : USAGE_EXIT;
      return;
    }
    const error = toHdmError(err);
    stdio.err(`hdm: ${error.code === 'INTERNAL' ? '' : `${error.code}: `}${error.message}`);
    if (process.env.HDM_DEBUG && err instanceof Error && err.stack) stdio.err(err.stack);
    process.exitCode = exitCodeOf(error);
  }
}

/** `hdm runs`: when an express-order run's working set was complete on the target. */
export function workingSetNote(summary: Record<string, unknown>): string {
  const ws = summary.workingSet as { complete?: boolean; completedAt?: string | null } | undefined;
  return ws?.complete ? `  working set complete ${ws.completedAt ?? ''}`.trimEnd() : '';
}
