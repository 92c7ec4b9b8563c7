import type { ServerResponse } from 'node:http';
import { ApiError } from './errors.ts';
import type { MigrationEvent } from './migrations.ts';

export interface EventStreamLimits {
  /** Event streams open at once over the whole API; one more answers 503. Default 100. */
  maxStreams?: number;
  /** Event streams one token may hold open at once; one more answers 429. Default 8. */
  maxStreamsPerToken?: number;
  /** How long a reader may leave its connection full before it is disconnected, in ms. Default 30000. */
  stallTimeoutMs?: number;
  /** Interval of the keep-alive comment, in ms. Default 15000. */
  heartbeatMs?: number;
}

export const EVENT_STREAM_DEFAULTS: Readonly<Required<EventStreamLimits>> = Object.freeze({
  maxStreams: 100,
  maxStreamsPerToken: 8,
  stallTimeoutMs: 30_000,
  heartbeatMs: 15_000,
});

/** Counts open event streams, overall and per token. */
export class EventStreamSlots {
  private total = 0;
  private readonly perToken = new Map<string, number>();

  constructor(private readonly limits: Readonly<Required<EventStreamLimits>>) {}

  get open(): number {
    return this.total;
  }

  /**
   * Takes a slot for the token, or throws: 429 TOO_MANY_STREAMS when this token holds its share,
   * 503 STREAMS_EXHAUSTED when the API as a whole does. The returned function gives the slot back; calling it
   * again does nothing.
   */
  acquire(tokenId: string): () => void {
    const mine = this.perToken.get(tokenId) ?? 0;
    if (mine >= this.limits.maxStreamsPerToken) {
      throw new ApiError(429, 'TOO_MANY_STREAMS', `this token already has ${mine} event streams open, the most one token may hold; close one (another tab or client) first`);
    }
    if (this.total >= this.limits.maxStreams) {
      throw new ApiError(503, 'STREAMS_EXHAUSTED', `the API already serves ${this.total} event streams, its limit; try again later`);
    }
    this.total += 1;
    this.perToken.set(tokenId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.perToken.get(tokenId) ?? 1) - 1;
      if (left > 0) this.perToken.set(tokenId, left);
      else this.perToken.delete(tokenId);
    };
  }
}

// Every event is a state (the progress, the summary, one job), not a change: a newer one of the same
// key makes an older, unwritten one worthless.
const keyOf = (event: MigrationEvent): string => (event.type === 'job' ? `job:${event.data.jobId}` : event.type);
const frame = (event: MigrationEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;

/**
 * Writes server-sent events to one reader without buffering for it without bound. While the
 * connection is full (the last write was not taken), events are held by key, newest only, and
 * written when it drains: a slow reader skips intermediate states and gets the latest. A reader
 * that takes nothing for `stallTimeoutMs` is disconnected.
 */
export class EventStreamWriter {
  private readonly pending = new Map<string, MigrationEvent>();
  private blocked = false;
  private stallTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly raw: ServerResponse,
    private readonly stallTimeoutMs: number,
  ) {
    raw.on('drain', () => this.flush());
  }

  send(event: MigrationEvent): void {
    if (this.closed) return;
    if (this.blocked) {
      const key = keyOf(event);
      this.pending.delete(key);
      this.pending.set(key, event);
      return;
    }
    this.write(frame(event));
  }

  /** A comment line (keep-alive); skipped while the connection is full, which is alive enough. */
  comment(text: string): void {
    if (!this.closed && !this.blocked) this.write(`: ${text}\n\n`);
  }

  /** Writes a raw line (the `retry:` field). */
  line(text: string): void {
    if (!this.closed && !this.blocked) this.write(`${text}\n`);
  }

  close(): void {
    this.closed = true;
    this.pending.clear();
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  private write(chunk: string): void {
    if (this.raw.write(chunk)) return;
    this.blocked = true;
    this.stallTimer ??= setTimeout(() => {
      this.close();
      this.raw.destroy();
    }, this.stallTimeoutMs);
  }

  private flush(): void {
    if (this.closed) return;
    this.blocked = false;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    for (const [key, event] of this.pending) {
      if (this.blocked) return;
      this.pending.delete(key);
      this.write(frame(event));
    }
  }
}
