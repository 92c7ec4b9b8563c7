import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { toHdmError } from '../../schemas/errors.ts';
import { loadMigrationConfig, parseMigrationConfig, yamlErrorWhere, type MigrationConfig } from '../../schemas/config.ts';
import { openRuntime, stateDirOf, type Runtime } from '../runtime/runtime.ts';
import { PRIVATE_FILE, privateDir } from '../common/private-files.ts';
import { redactor } from '../../schemas/redact.ts';
import { ApiError } from './errors.ts';
import { LiveProgress } from './live-progress.ts';
import { PLANNED_RUN_KINDS, prepareRun, RUN_KINDS } from '../run/run-kinds.ts';

export type JobStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

/** A run started through the API: one or more ledger runs (a followed delta has one per pass). */
export interface Job {
  jobId: string;
  kind: string;
  status: JobStatus;
  startedAt: string;
  finishedAt: string | null;
  options: unknown;
  ledgerRuns: { runId: string; summary: Record<string, unknown> }[];
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

/** Events a migration emits to its server-sent-event subscribers. */
export type MigrationEvent =
  | { type: 'job'; data: Job }
  | { type: 'progress'; data: ReturnType<LiveProgress['snapshot']> & { job: Job | null; sample: { at: number; perSecond: number } } }
  | { type: 'summary'; data: unknown };

/** One migration the API serves: its frozen config, its runtime (opened once), its jobs. */
export class MigrationHandle {
  readonly progress = new LiveProgress();
  readonly events = new EventEmitter();
  readonly jobs: Job[] = [];
  active: { job: Job; controller: AbortController; done: Promise<void> } | null = null;
  private runtime: Promise<Runtime> | null = null;
  /** The runtime once opened (metrics read its connectors' counters without opening one). */
  current: Runtime | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private ticks = 0;
  private summaryBusy = false;
  private summarizing: Promise<void> = Promise.resolve();
  private nextSummaryAt = 0;

  constructor(
    readonly config: Readonly<MigrationConfig>,
    readonly origin: string,
    private readonly env: NodeJS.ProcessEnv,
    /** Reads the reconciliation for `summary` events while a run is active. */
    private readonly summarize: (handle: MigrationHandle) => Promise<unknown>,
    /** Makes room before the runtime opens (the embedded engine holds one data directory per process). */
    private readonly beforeOpen: (handle: MigrationHandle) => Promise<void> = async () => undefined,
  ) {
    this.events.setMaxListeners(0);
  }

  /** The embedded ledger's directory, or null on a ClickHouse server. */
  get embeddedLedger(): string | null {
    return this.config.ledger.clickhouseUrl ? null : join(stateDirOf(this.config), 'ledger');
  }

  get isOpen(): boolean {
    return this.runtime !== null;
  }

  get name(): string {
    return this.config.name;
  }

  /** The runtime (connectors, ledger, bus), opened on first use and kept for the server's life. */
  open(): Promise<Runtime> {
    if (!this.runtime) {
      this.runtime = this.beforeOpen(this).then(() => openRuntime(this.config, this.env));
      this.runtime.then(
        (runtime) => (this.current = runtime),
        () => (this.runtime = null),
      );
    }
    return this.runtime;
  }

  emit(event: MigrationEvent): void {
    this.events.emit('event', event);
  }

  /** Starts a run of the given kind; one run at a time per migration (they share one bus and one set of cursors). */
  async start(kind: string, rawOptions: unknown): Promise<Job> {
    const runKind = RUN_KINDS.get(kind);
    if (!runKind) {
      if (PLANNED_RUN_KINDS.includes(kind)) {
        throw new ApiError(400, 'RUN_KIND_UNAVAILABLE', `run kind "${kind}" is not available in this version; available: ${[...RUN_KINDS.keys()].join(', ')}`);
      }
      throw new ApiError(400, 'BAD_REQUEST', `unknown run kind "${kind}"; expected one of ${[...RUN_KINDS.keys()].join(', ')}`);
    }
    const parsed = runKind.options.safeParse(rawOptions ?? {});
    if (!parsed.success) {
      throw new ApiError(400, 'BAD_REQUEST', `invalid options for a ${kind} run`, parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    }
    if (this.active) throw new ApiError(409, 'RUN_ACTIVE', `a ${this.active.job.kind} run (${this.active.job.jobId}) is in progress; stop it first or wait for it to end`);
    const runtime = await this.open();
    const prepared = await prepareRun(runKind, runtime, parsed.data as never);
    if (this.active) throw new ApiError(409, 'RUN_ACTIVE', `a ${(this.active as { job: Job }).job.kind} run is in progress`);
    const job: Job = {
      jobId: `${kind}-job-${Date.now().toString(36)}`,
      kind,
      status: 'running',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      options: parsed.data,
      ledgerRuns: [],
      result: null,
      error: null,
    };
    const controller = new AbortController();
    this.progress.startRun();
    this.jobs.unshift(job);
    if (this.jobs.length > 50) this.jobs.length = 50;
    const done = (async () => {
      try {
        const result = await prepared.start({
          runtime,
          events: this.progress.events(),
          signal: controller.signal,
          onLedgerRun: (runId, summary) => job.ledgerRuns.push({ runId, summary }),
        });
        job.result = runKind.summary(result as never);
        job.status = controller.signal.aborted ? 'interrupted' : 'succeeded';
      } catch (err) {
        const error = toHdmError(err);
        job.status = controller.signal.aborted ? 'interrupted' : 'failed';
        job.error = { code: error.code, message: error.code === 'INTERNAL' ? 'internal error' : redactor.redact(error.message) };
        runtime.logger.error({ job: job.jobId, code: error.code, err: redactor.redact(error.message) }, 'api run failed');
      } finally {
        job.finishedAt = new Date().toISOString();
        this.stopTicker();
        // The final summary is read before the run counts as ended, so whoever sees it ended reads it.
        await this.tick(true);
        this.active = null;
        this.emit({ type: 'job', data: job });
      }
    })();
    this.active = { job, controller, done };
    this.emit({ type: 'job', data: job });
    this.startTicker();
    return job;
  }

  /** Asks the active run to stop at its next safe point; resolves once it has. */
  async stop(): Promise<Job | null> {
    const active = this.active;
    if (!active) return null;
    active.controller.abort();
    await active.done;
    return active.job;
  }

  private startTicker(): void {
    this.ticks = 0;
    this.nextSummaryAt = Date.now() + 3000;
    this.ticker = setInterval(() => void this.tick(false).catch(() => undefined), 1000);
    this.ticker.unref();
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  private async tick(final: boolean): Promise<void> {
    this.ticks += 1;
    const sample = this.progress.sample();
    this.emit({ type: 'progress', data: { ...this.progress.snapshot(), job: this.active?.job ?? this.jobs[0] ?? null, sample } });
    // The summary scans the ledger: one at a time, and spaced by several times what the last one took,
    // so a ledger of millions of rows is not kept busy by its own dashboard.
    if (final) await this.summarizing;
    if (!final && (this.summaryBusy || Date.now() < this.nextSummaryAt)) return;
    this.summaryBusy = true;
    const started = Date.now();
    this.summarizing = (async () => {
      try {
        this.emit({ type: 'summary', data: await this.summarize(this) });
      } catch {
        // The next tick tries again; a ledger busy with a batch is no reason to end the stream.
      } finally {
        const took = Date.now() - started;
        this.nextSummaryAt = Date.now() + Math.max(3000, took * 5);
        this.summaryBusy = false;
      }
    })();
    await this.summarizing;
  }

  async close(): Promise<void> {
    await this.stop();
    this.stopTicker();
    await this.closeRuntime();
  }

  /** Closes the runtime (connectors, ledger); the next request opens it again. */
  async closeRuntime(): Promise<void> {
    const runtime = await this.runtime?.catch(() => null);
    await runtime?.close();
    this.runtime = null;
    this.current = null;
  }
}

/**
 * The migrations the API serves: the one given at start, plus those created through the API, which
 * are kept as files under the API's state directory so a restart serves them again.
 */
export class MigrationRegistry {
  private readonly handles = new Map<string, MigrationHandle>();
  private readonly dir: string;

  constructor(
    private readonly options: { stateDir: string; env?: NodeJS.ProcessEnv; summarize: (handle: MigrationHandle) => Promise<unknown> },
  ) {
    this.dir = join(options.stateDir, 'migrations');
  }

  /** Serves the migrations created earlier through the API. */
  loadSaved(): void {
    let files: string[] = [];
    try {
      files = readdirSync(this.dir).filter((f) => f.endsWith('.yaml'));
    } catch {
      return;
    }
    for (const file of files) {
      const config = loadMigrationConfig(join(this.dir, file));
      if (!this.handles.has(config.name)) this.add(config, 'api');
    }
  }

  addFile(path: string, clickhouseUrl?: string): MigrationHandle {
    let config = loadMigrationConfig(path);
    if (clickhouseUrl) config = parseMigrationConfig({ ...config, ledger: { ...config.ledger, clickhouseUrl } }, `${path} with --clickhouse-url`);
    return this.add(config, `file:${path}`);
  }

  /** Adds a migration from YAML text; keeps it for restarts. */
  createFromYaml(text: string): MigrationHandle {
    let data: unknown;
    try {
      data = parseYaml(text);
    } catch (err) {
      throw new ApiError(400, 'CONFIG_INVALID', `the migration file is not valid YAML: ${yamlErrorWhere(err)}`);
    }
    const config = parseMigrationConfig(data, 'the migration file');
    const handle = this.add(config, 'api');
    privateDir(this.dir);
    writeFileSync(join(this.dir, `${config.name}.yaml`), stringify(data), { mode: PRIVATE_FILE });
    return handle;
  }

  /** The path comes from a caller who may not be able to read the file: errors never quote its content. */
  createFromFile(path: string): MigrationHandle {
    const config = loadMigrationConfig(path, 'none');
    const handle = this.add(config, `file:${path}`);
    privateDir(this.dir);
    writeFileSync(join(this.dir, `${config.name}.yaml`), readFileSync(path, 'utf8'), { mode: PRIVATE_FILE });
    return handle;
  }

  private add(config: Readonly<MigrationConfig>, origin: string): MigrationHandle {
    if (this.handles.has(config.name)) throw new ApiError(409, 'CONFLICT', `a migration named "${config.name}" is already served`);
    const handle = new MigrationHandle(config, origin, this.options.env ?? process.env, this.options.summarize, (h) => this.makeRoom(h));
    this.handles.set(config.name, handle);
    return handle;
  }

  /**
   * The embedded engine holds one data directory per process: before a migration on another embedded
   * ledger opens, an idle one is closed; a running one makes the newcomer wait its turn with a 409.
   */
  private async makeRoom(handle: MigrationHandle): Promise<void> {
    const path = handle.embeddedLedger;
    if (!path) return;
    for (const other of this.handles.values()) {
      if (other === handle || !other.isOpen || !other.embeddedLedger || other.embeddedLedger === path) continue;
      if (other.active) {
        throw new ApiError(
          409,
          'LEDGER_BUSY',
          `migration "${other.name}" is running on the embedded ledger, and one process holds one embedded ledger at a time: wait for its run to end, or give "${handle.name}" a ClickHouse server (ledger.clickhouseUrl)`,
        );
      }
      await other.closeRuntime();
    }
  }

  get(name: string): MigrationHandle {
    const handle = this.handles.get(name);
    if (!handle) throw new ApiError(404, 'NOT_FOUND', `no migration named "${name}"`);
    return handle;
  }

  list(): MigrationHandle[] {
    return [...this.handles.values()];
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.list().map((h) => h.close()));
  }
}
