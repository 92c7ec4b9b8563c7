import type { ReadOptions, StreamState } from './contract.ts';
import { HdmError } from '../../schemas/errors.ts';

/**
 * Version written into every JSON cursor. A cursor without one was written before cursors carried
 * versions and reads as version 1: users' saved states must keep resuming.
 */
export const CURSOR_VERSION = 1;

/** Re-read window behind a saved cursor when the run names none, in seconds. */
export const DEFAULT_OVERLAP_SECONDS = 60;

/**
 * A connector's saved cursor as the object it wrote, or null when the stream has none. A cursor that is
 * not a JSON object goes to `fromText` when given (a format a connector wrote before JSON cursors);
 * otherwise, like one from a newer version of this engine, it is refused: resuming from a position it
 * cannot read would skip or repeat a whole stream.
 */
export function readCursor<T extends object>(state: StreamState | null, platform: string, fromText?: (text: string) => T | null): T | null {
  const text = state?.cursor;
  if (!text) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    if (fromText) return fromText(text);
    throw new HdmError('CONFIG_INVALID', `${platform}: saved stream cursor is not one this connector wrote: ${text.slice(0, 80)}`, {
      retryable: false,
      context: { platform, field: 'cursor' },
    });
  }
  const { v, ...cursor } = parsed as { v?: unknown };
  if (v !== undefined && (typeof v !== 'number' || v > CURSOR_VERSION)) {
    throw new HdmError('CONFIG_INVALID', `${platform}: saved stream cursor has version ${String(v)}, newer than the ${CURSOR_VERSION} this engine reads: upgrade before resuming`, {
      retryable: false,
      context: { platform, field: 'cursor' },
    });
  }
  return cursor as T;
}

/** A cursor as saved: the connector's object with the cursor version. */
export function writeCursor(cursor: object): string {
  return JSON.stringify({ v: CURSOR_VERSION, ...cursor });
}

/** The run's overlap window in seconds. */
export function overlapOf(options: ReadOptions | undefined): number {
  return options?.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
}

/**
 * Where a resumed read starts, in epoch milliseconds: the saved instant less the overlap window, so
 * same-second and in-flight updates are read again rather than skipped (upserts absorb the repeats).
 * Never before the epoch.
 */
export function sinceWithOverlap(at: string | number, overlapSeconds: number): number {
  const ms = typeof at === 'number' ? at : Date.parse(at);
  return Math.max(0, ms - overlapSeconds * 1000);
}

/**
 * Where a read ordered by a source time stands: the newest instant reached and the IDs already read at
 * exactly that instant. A page asked for "from that instant" repeats those records; they are skipped
 * by ID, the rest of that instant is not.
 */
export class InstantMark<I extends string | number, K extends string | number = string | number> {
  private readonly ids: Set<K>;

  constructor(
    public at: I | null = null,
    ids: Iterable<K> = [],
  ) {
    this.ids = new Set(ids);
  }

  /** Whether a record at `at` with `id` was read already. */
  seen(at: I, id: K): boolean {
    return at === this.at && this.ids.has(id);
  }

  /** Notes a record read, in the read's time order: a new instant starts a new set of IDs. */
  add(at: I, id: K): void {
    if (at !== this.at) {
      this.at = at;
      this.ids.clear();
    }
    this.ids.add(id);
  }

  /** The IDs read at the mark's instant. */
  idsAt(): K[] {
    return [...this.ids];
  }
}

/**
 * The resume rule for a cursor that saved its instant and the IDs read at it: with an overlap the read
 * starts that much earlier and skips nothing (the window re-reads on purpose); without one it starts at
 * the instant itself, skipping by ID what was already handed out there.
 */
export function resumeAt<K extends string | number>(saved: { at: string; ids: readonly K[] } | null, overlapSeconds: number): { since: number | null; mark: InstantMark<string, K> } {
  if (!saved) return { since: null, mark: new InstantMark<string, K>() };
  return {
    since: sinceWithOverlap(saved.at, overlapSeconds),
    mark: new InstantMark<string, K>(saved.at, overlapSeconds === 0 ? saved.ids : []),
  };
}
