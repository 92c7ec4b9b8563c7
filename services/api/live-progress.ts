import type { HdmError } from '../../schemas/errors.ts';
import type { EntityName } from '../../schemas/canonical.ts';
import type { PipelineEvents } from '../pipeline/pipeline.ts';
import type { ConversationCount } from './progress.ts';

export interface EntityCounters {
  /** Canonical records read (a ticket counts itself and each comment, as the CLI's progress does). */
  read: number;
  mapped: number;
  loaded: number;
  failed: number;
  filtered: number;
}

export interface ThroughputSample {
  /** ms since the epoch */
  at: number;
  /** canonical records loaded per second over the sample's interval */
  perSecond: number;
}

export interface LiveFailure {
  at: string;
  entity: string;
  code: string;
  message: string;
  recordId: string | null;
}

/** Where a run is with one entity: not reached yet, being moved, or done. */
export interface EntityPhase {
  state: 'waiting' | 'running' | 'done' | 'skipped';
  /** ms since the epoch */
  startedAt: number | null;
  doneAt: number | null;
}

const empty = (): EntityCounters => ({ read: 0, mapped: 0, loaded: 0, failed: 0, filtered: 0 });

/**
 * The pipeline's progress events, counted for the API: the same event source the CLI's progress bars
 * draw from. Counters live for the process (Prometheus counters); `run` counters restart with each run.
 */
export class LiveProgress {
  readonly total = new Map<string, EntityCounters>();
  run = new Map<string, EntityCounters>();
  canonicalLoaded = 0;
  readonly samples: ThroughputSample[] = [];
  readonly minutes: ThroughputSample[] = [];
  private bucket: { at: number; sum: number; n: number } | null = null;
  readonly recentFailures: LiveFailure[] = [];
  private lastSample = { at: Date.now(), canonical: 0 };
  /** The current run's phases per entity, in the order they started. */
  phases = new Map<string, EntityPhase>();
  /** The step after the entities (`verify`), or null. */
  closingPhase: { name: string; startedAt: number } | null = null;
  runStartedAt: number | null = null;
  /** Express order's working set in the current run: null in entity order. */
  workingSet: { state: 'running' | 'complete'; startedAt: number; completedAt: number | null } | null = null;
  /** When the last pipeline event arrived (ms since the epoch), or null. */
  lastActivityAt: number | null = null;
  /** Tickets the current run read, with their comments and attachments (what the ETA's budget counts per ticket). */
  conversation: ConversationCount = { tickets: 0, comments: 0, attachments: 0 };

  constructor(private readonly options: { maxSamples?: number; onFailure?: (f: LiveFailure) => void } = {}) {}

  /** Fresh per-run counters; the process totals go on. */
  startRun(now = Date.now()): void {
    this.run = new Map();
    this.conversation = { tickets: 0, comments: 0, attachments: 0 };
    this.phases = new Map();
    this.closingPhase = null;
    this.workingSet = null;
    this.runStartedAt = now;
    this.lastActivityAt = now;
  }

  /** The run has moved on to a step after the entities (e.g. the closing verification). */
  enterClosingPhase(name: string, now = Date.now()): void {
    this.closingPhase = { name, startedAt: now };
    this.lastActivityAt = now;
  }

  private bump(entity: EntityName, key: keyof EntityCounters, n = 1): void {
    this.lastActivityAt = Date.now();
    for (const map of [this.total, this.run]) {
      let c = map.get(entity);
      if (!c) map.set(entity, (c = empty()));
      c[key] += n;
    }
  }

  /** PipelineEvents for runs started by the API. */
  events(): PipelineEvents {
    return {
      read: (entity, count, conversation) => {
        this.bump(entity, 'read', count);
        if (conversation) {
          this.conversation.tickets += conversation.tickets;
          this.conversation.comments += conversation.comments;
          this.conversation.attachments += conversation.attachments;
        }
      },
      mapped: (entity) => this.bump(entity, 'mapped'),
      loaded: (entity, _action, weight) => {
        this.bump(entity, 'loaded');
        this.canonicalLoaded += weight;
      },
      filtered: (entity) => this.bump(entity, 'filtered'),
      phase: (entity, state) => {
        const now = Date.now();
        this.lastActivityAt = now;
        const phase = this.phases.get(entity) ?? { state: 'waiting', startedAt: null, doneAt: null };
        if (state === 'start') this.phases.set(entity, { state: 'running', startedAt: now, doneAt: null });
        else this.phases.set(entity, { state: state === 'done' ? 'done' : 'skipped', startedAt: phase.startedAt ?? now, doneAt: now });
      },
      workingSet: (state) => {
        const now = Date.now();
        this.lastActivityAt = now;
        if (state === 'start') this.workingSet = { state: 'running', startedAt: now, completedAt: null };
        else this.workingSet = { state: 'complete', startedAt: this.workingSet?.startedAt ?? now, completedAt: this.workingSet?.completedAt ?? now };
      },
      failed: (entity, error: HdmError) => {
        this.bump(entity, 'failed');
        const failure: LiveFailure = {
          at: new Date().toISOString(),
          entity,
          code: error.code,
          message: error.message,
          recordId: typeof error.context.recordId === 'string' ? error.context.recordId : null,
        };
        this.recentFailures.unshift(failure);
        if (this.recentFailures.length > 50) this.recentFailures.length = 50;
        this.options.onFailure?.(failure);
      },
    };
  }

  /** Records a throughput sample since the previous one. */
  sample(now = Date.now()): ThroughputSample {
    const seconds = Math.max(0.001, (now - this.lastSample.at) / 1000);
    const s = { at: now, perSecond: Math.round((this.canonicalLoaded - this.lastSample.canonical) / seconds) };
    this.lastSample = { at: now, canonical: this.canonicalLoaded };
    this.samples.push(s);
    const max = this.options.maxSamples ?? 600;
    if (this.samples.length > max) this.samples.splice(0, this.samples.length - max);
    // Older history is kept per minute, a day of it, so a long run's chart still reaches back.
    const minute = Math.floor(now / 60_000) * 60_000;
    if (this.bucket && this.bucket.at !== minute) {
      this.minutes.push({ at: this.bucket.at, perSecond: Math.round(this.bucket.sum / this.bucket.n) });
      if (this.minutes.length > 1440) this.minutes.shift();
      this.bucket = null;
    }
    this.bucket ??= { at: minute, sum: 0, n: 0 };
    this.bucket.sum += s.perSecond;
    this.bucket.n += 1;
    return s;
  }

  /** Throughput over time: per minute for the last day, per second for the last minutes. */
  history(): ThroughputSample[] {
    const first = this.samples[0]?.at ?? Infinity;
    return [...this.minutes.filter((m) => m.at + 60_000 <= first), ...this.samples];
  }

  snapshot(): { run: Record<string, EntityCounters>; total: Record<string, EntityCounters>; canonicalLoaded: number } {
    return { run: Object.fromEntries(this.run), total: Object.fromEntries(this.total), canonicalLoaded: this.canonicalLoaded };
  }
}
