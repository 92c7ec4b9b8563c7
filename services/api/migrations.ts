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
import { HealthMonitor, type Health, type SideInput } from './health.ts';
import { progressView, type ConversationCount, type ProgressInput, type ProgressView } from './progress.ts';
import { projectPhase, sampleConversations, sideRates } from '../estimate/estimate.ts';
import { AlertWatcher } from './alerts.ts';
import { LOAD_ORDER } from '../../schemas/canonical.ts';

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
  /** Who started it: the API token's id, label and role. */
  startedBy: { tokenId: string; label: string; role: string } | null;
  /** The verifications a delta with `verify` made after its passes. */
  verifications?: { verifyId: string; clean: boolean }[];
  /** The verification a full or verify run began, known before it ends (its rows are in the ledger already). */
  verifying?: string;
}

/** Events a migration emits to its server-sent-event subscribers. */
export type MigrationEvent =
  | { type: 'job'; data: Job }
  | { type: 'progress'; data: ReturnType<LiveProgress['snapshot']> & { job: Job | null; sample: { at: number; perSecond: number }; health?: Health; runProgress?: ProgressView } }
  | { type: 'summary'; data: unknown };

/** One migration the API serves: its frozen config, its runtime (opened once), its jobs. */
export class MigrationHandle {
  readonly progress = new LiveProgress();
  readonly events = new EventEmitter();
  readonly jobs: Job[] = [];
  readonly health = new HealthMonitor();
  /** Records at the source per entity, counted when a full run starts. */
  readonly totals = new Map<string, number>();
  /** Aborts the open runtime's connectors (see `open()`). */
  private cutConnectors: AbortController | null = null;
  /** Tickets drawn when the current full run started (`dashboard.etaSampleTickets`), for the ETA. */
  private conversationSample: ConversationCount | null = null;
  private alerts: AlertWatcher;
  active: { job: Job; controller: AbortController; done: Promise<void> } | null = null;
  private runtime: Promise<Runtime> | null = null;
  private closing: Promise<void> | null = null;
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
    /** Where the jobs are kept across restarts of the API, or null for memory only. */
    private readonly jobsFile: string | null = null,
  ) {
    this.events.setMaxListeners(0);
    this.alerts = new AlertWatcher(config.name, config.alerts);
    if (jobsFile) {
      try {
        const saved = JSON.parse(readFileSync(jobsFile, 'utf8')) as Job[];
        // A job that was running when the API stopped did not finish.
        for (const job of saved) this.jobs.push(job.status === 'running' ? { ...job, status: 'interrupted', finishedAt: job.finishedAt ?? job.startedAt } : job);
      } catch {
        // No jobs yet.
      }
    }
  }

  private saveJobs(): void {
    if (!this.jobsFile) return;
    try {
      writeFileSync(this.jobsFile, JSON.stringify(this.jobs), { mode: PRIVATE_FILE });
    } catch {
      // The jobs stay in memory; the ledger keeps the runs themselves.
    }
  }

  /** Each side's HTTP counters and limits, for the health view. */
  private sideInputs(): SideInput[] {
    const runtime = this.current;
    if (!runtime) return [];
    return (['source', 'target'] as const).map((side) => ({
      side,
      platform: runtime[side].platform,
      stats: runtime[side].httpStats?.() ?? null,
      platformLimit: runtime[side].rateLimit.requestsPerMinute,
      configuredLimit: this.config[side].requestsPerMinute ?? 0,
    }));
  }

  /** The platforms' pace against their limits, and why a stalled run is stalled. */
  healthView(now = Date.now()): Health {
    return this.health.health(this.sideInputs(), { running: this.active !== null, lastActivityAt: this.progress.lastActivityAt }, now, this.config.dashboard.stallSeconds);
  }

  /** Per entity done / total, pace and ETA of the current (or last) run started through the API. */
  progressView(now = Date.now()): ProgressView {
    const job = this.active?.job ?? this.jobs[0] ?? null;
    const runtime = this.current;
    let budget: ProgressInput['budgetSeconds'];
    if (runtime) {
      const rates = sideRates(runtime.source, runtime.target, { source: this.config.source, target: this.config.target });
      budget = (entity, records, conversation) => projectPhase(runtime.source, runtime.target, rates, entity, records, conversation.comments, conversation.attachments).seconds;
    }
    return progressView(
      {
        running: this.active !== null,
        kind: job?.kind ?? null,
        runStartedAt: this.progress.runStartedAt,
        finishedAt: job?.finishedAt ? Date.parse(job.finishedAt) : null,
        entities: this.config.entities,
        counters: this.progress.run,
        phases: this.progress.phases,
        closingPhase: this.progress.closingPhase,
        workingSet: this.progress.workingSet,
        totals: this.totals,
        budgetSeconds: budget,
        conversation: this.progress.conversation,
        conversationSample: this.conversationSample,
      },
      now,
    );
  }

  /**
   * Counts each entity at the source (where the platform has a count), for the progress totals, then draws
   * `dashboard.etaSampleTickets` tickets for the comments and attachments the ETA counts per ticket.
   */
  private async countTotals(runtime: Runtime): Promise<void> {
    this.totals.clear();
    this.conversationSample = null;
    for (const entity of LOAD_ORDER) {
      if (!this.config.entities.includes(entity) || !runtime.source.count) continue;
      try {
        const n = await runtime.source.count(entity);
        if (typeof n === 'number') this.totals.set(entity, n);
      } catch {
        // No count for this entity: its progress shows done without a total.
      }
    }
    const size = this.config.dashboard.etaSampleTickets;
    if (size === 0 || !this.config.entities.includes('ticket')) return;
    try {
      const drawn = await sampleConversations(runtime.source, size);
      this.conversationSample = { tickets: drawn.tickets, comments: drawn.comments, attachments: drawn.attachments };
    } catch {
      // Nothing drawn: the ETA counts tickets alone until the run reads some.
    }
  }

  /** The embedded ledger's directory, or null on a ClickHouse server. */
  get embeddedLedger(): string | null {
    return this.config.ledger.clickhouseUrl ? null : join(stateDirOf(this.config), 'ledger');
  }

  get isOpen(): boolean {
    return this.runtime !== null;
  }

  /** Resolves once a runtime being closed (by a stop, say) has let go of its ledger. */
  async closed(): Promise<void> {
    await this.closing;
  }

  get name(): string {
    return this.config.name;
  }

  /** The runtime (connectors, ledger, bus), opened on first use and kept for the server's life. */
  open(): Promise<Runtime> {
    if (!this.runtime) {
      // A runtime still closing is closed before the next one opens on the same ledger.
      const closed = this.closing ?? Promise.resolve();
      // A stop cuts what the connectors have in flight or are waiting to send (a request held for a rate
      // limit's next window), as Ctrl-C does for `hdm migrate`; connectors cut once are not used again.
      const cut = new AbortController();
      this.cutConnectors = cut;
      this.runtime = closed.then(() => this.beforeOpen(this)).then(() => openRuntime(this.config, this.env, undefined, cut.signal));
      this.runtime.then(
        (runtime) => (this.current = runtime),
        () => (this.runtime = null),
      );
    }
    return this.runtime;
  }

  emit(event: MigrationEvent): void {
    this.events.emit('event', event);
    if (event.type === 'summary') {
      const verdict = (event.data as { readiness?: { verdict?: string } } | null)?.readiness?.verdict;
      if (verdict) this.alerts.observe({ verdict });
    }
  }

  /** Starts a run of the given kind; one run at a time per migration (they share one bus and one set of cursors). */
  async start(kind: string, rawOptions: unknown, startedBy: Job['startedBy'] = null): Promise<Job> {
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
      startedBy,
    };
    const controller = new AbortController();
    this.progress.startRun();
    if (kind === 'full') void this.countTotals(runtime);
    else this.totals.clear();
    if (kind === 'verify') this.progress.enterClosingPhase('verify');
    this.jobs.unshift(job);
    if (this.jobs.length > 50) this.jobs.length = 50;
    const done = (async () => {
      try {
        const result = await prepared.start({
          runtime,
          events: this.progress.events(),
          signal: controller.signal,
          onLedgerRun: (runId, summary) => {
            job.ledgerRuns.push({ runId, summary });
            this.saveJobs();
          },
          onPhase: (name) => this.progress.enterClosingPhase(name),
          onVerifyStarted: (verifyId) => {
            job.verifying = verifyId;
            this.saveJobs();
          },
          onVerifyChanged: (outcome) => {
            // A delta's re-checks are runs of their own in the history, started by whoever started the delta.
            if ('report' in outcome) job.verifications = [...(job.verifications ?? []), { verifyId: outcome.report.verifyId, clean: outcome.report.clean }].slice(-50);
            else runtime.logger.info({ job: job.jobId, reason: outcome.skipped }, 'no re-check after this pass');
            this.saveJobs();
          },
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
        this.saveJobs();
        this.emit({ type: 'job', data: job });
        this.alerts.observe({ stall: null });
      }
    })();
    this.active = { job, controller, done };
    this.saveJobs();
    this.emit({ type: 'job', data: job });
    this.startTicker();
    return job;
  }

  /**
   * Stops the active run: what it has in flight or waiting for a rate limit is cut, what it covered is
   * saved (as when `hdm migrate` is stopped). Resolves once it has ended; the next request opens fresh
   * connectors.
   */
  async stop(): Promise<Job | null> {
    const active = this.active;
    if (!active) return null;
    active.controller.abort();
    this.cutConnectors?.abort();
    await active.done;
    await this.closeRuntime();
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
    const health = this.healthView();
    if (!final) this.alerts.observe({ stall: health.stall?.reason ?? null });
    this.emit({ type: 'progress', data: { ...this.progress.snapshot(), job: this.active?.job ?? this.jobs[0] ?? null, sample, health, runProgress: this.progressView() } });
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
    const pending = this.runtime;
    // Closed already, or being closed by another caller: that close is the one to wait for.
    if (!pending) return this.closed();
    // Forgotten before it is closed: a close that fails must not leave a half-closed runtime that every
    // later request would try to close again (and the migration unavailable until the server restarts).
    this.runtime = null;
    this.current = null;
    this.health.reset();
    const closing = (async () => {
      const runtime = await pending.catch(() => null);
      try {
        await runtime?.close();
      } catch (err) {
        runtime?.logger.warn({ migration: this.name, err: redactor.redact(toHdmError(err).message) }, 'closing the migration runtime failed');
      }
    })();
    this.closing = closing;
    await closing;
    if (this.closing === closing) this.closing = null;
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
    privateDir(join(this.options.stateDir, 'jobs'));
    const jobsFile = join(this.options.stateDir, 'jobs', `${config.name}.json`);
    const handle = new MigrationHandle(config, origin, this.options.env ?? process.env, this.options.summarize, (h) => this.makeRoom(h), jobsFile);
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
      if (other === handle || !other.embeddedLedger || other.embeddedLedger === path) continue;
      // A stop closes its runtime as it ends: that close is awaited, or two engines would open in one process.
      if (!other.isOpen) {
        await other.closed();
        continue;
      }
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
