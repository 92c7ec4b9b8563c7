import cliProgress from 'cli-progress';
import type { EntityName } from '../../schemas/canonical.ts';
import type { PipelineEvents } from '../pipeline/pipeline.ts';

export interface ProgressOptions {
  /** Bars on a terminal, periodic lines elsewhere, nothing when false. */
  enabled: boolean;
  stream?: NodeJS.WriteStream;
  /** Expected records per entity, when known, for bar totals. */
  totals?: Partial<Record<EntityName, number>>;
}

interface EntityProgress {
  read: number;
  loaded: number;
  failed: number;
  filtered: number;
  bar?: cliProgress.SingleBar;
}

/** Progress of a migration: per-entity bars, canonical records per second, failures. */
export class Progress {
  readonly events: PipelineEvents;
  private readonly entities = new Map<EntityName, EntityProgress>();
  private readonly multibar: cliProgress.MultiBar | null;
  private readonly started = Date.now();
  private canonical = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly stream: NodeJS.WriteStream;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    const tty = Boolean(this.stream.isTTY) && options.enabled;
    this.multibar = tty
      ? new cliProgress.MultiBar(
          {
            stream: this.stream,
            format: ' {entity} |{bar}| {value}/{total} loaded · {failed} failed · {filtered} filtered · {rate} rec/s',
            hideCursor: true,
            clearOnComplete: false,
            barsize: 28,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
    if (options.enabled && !tty) this.timer = setInterval(() => this.line(), 2000);
    this.timer?.unref();
    this.events = {
      phase: (entity, state) => {
        if (state === 'start') this.entity(entity);
        if (state === 'skipped' && options.enabled && !tty) this.stream.write(`${entity}: already complete in this run, skipped\n`);
      },
      read: (entity, count) => {
        const p = this.entity(entity);
        p.read += count;
        this.update(entity, p);
      },
      loaded: (entity, _action, weight) => {
        const p = this.entity(entity);
        p.loaded += 1;
        this.canonical += weight;
        this.update(entity, p);
      },
      failed: (entity) => {
        const p = this.entity(entity);
        p.failed += 1;
        this.update(entity, p);
      },
      filtered: (entity) => {
        const p = this.entity(entity);
        p.filtered += 1;
        this.update(entity, p);
      },
    };
  }

  /** Canonical records (tickets, comments, users…) loaded per second since start. */
  rate(): number {
    const seconds = (Date.now() - this.started) / 1000;
    return seconds > 0 ? Math.round(this.canonical / seconds) : 0;
  }

  get canonicalLoaded(): number {
    return this.canonical;
  }

  private entity(entity: EntityName): EntityProgress {
    let p = this.entities.get(entity);
    if (!p) {
      p = { read: 0, loaded: 0, failed: 0, filtered: 0 };
      if (this.multibar) {
        p.bar = this.multibar.create(this.options.totals?.[entity] ?? 0, 0, { entity: entity.padEnd(12), failed: 0, filtered: 0, rate: 0 });
      }
      this.entities.set(entity, p);
    }
    return p;
  }

  private update(entity: EntityName, p: EntityProgress): void {
    if (!p.bar) return;
    const total = Math.max(this.options.totals?.[entity] ?? 0, p.loaded + p.failed + p.filtered);
    p.bar.setTotal(total);
    p.bar.update(p.loaded + p.failed + p.filtered, { failed: p.failed, filtered: p.filtered, rate: this.rate() });
  }

  private line(): void {
    const parts = [...this.entities.entries()].map(([entity, p]) => `${entity} ${p.loaded + p.filtered + p.failed}${p.failed ? ` (${p.failed} failed)` : ''}`);
    if (parts.length) this.stream.write(`progress: ${parts.join(', ')} · ${this.rate()} rec/s\n`);
  }

  /** Ends the display with a last progress line; later calls print nothing, so nothing follows a verdict. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.multibar?.stop();
    if (this.options.enabled && !this.multibar) this.line();
  }
}
