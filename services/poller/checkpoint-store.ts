import { readFileSync, renameSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ReadWindow, StreamState } from '../../connectors/sdk/contract.ts';
import type { EntityName } from '../../schemas/canonical.ts';
import { PRIVATE_FILE, privateDir } from '../common/private-files.ts';

export interface StreamCheckpoint {
  state: StreamState | null;
  done: boolean;
}

/**
 * Express order's working-set pass: its own cursor over the ticket stream, and the bounds fixed when the
 * run started, so a resumed run selects exactly the tickets the interrupted one did.
 */
export interface WorkingSetCheckpoint extends StreamCheckpoint {
  /** Tickets updated at or after this instant belong to the working set, whatever their status. */
  recentSince: string;
  /** Statuses whose tickets belong to the working set. */
  statuses: string[];
  /**
   * Set once the pass is done: versions updated before this instant were all handed on by it, so the
   * later pass over every ticket leaves such working-set tickets out instead of loading them twice.
   */
  coveredBefore?: string;
  /** When the working set was complete on the target. */
  completedAt?: string;
  /** The oldest `updatedAt` the pass read: the history's windows reach no further back (absent: to the epoch). */
  oldest?: string;
  /** The pass over the history, once started, when the ticket stream reads in windows. */
  history?: HistoryCheckpoint;
}

/**
 * Express order's history over a ticket stream that reads in windows (`StreamDescriptor.windows`): the
 * windows newest first, then the tail (the newest window read on from where it ended, up to the present).
 */
export interface HistoryCheckpoint {
  /** The windows, newest first, fixed when the history started. */
  windows: ReadWindow[];
  /** The window under way (0: the newest); `windows.length` for the tail; past it once the tail is done. */
  step: number;
  /** The cursor of that step (the tail starts from the newest window's final state; once done, its own). */
  state: StreamState | null;
  /** The newest window's final state, once it is done: where the tail starts. */
  newest?: StreamState | null;
}

/** What a migration's poller must remember across processes. */
export interface CheckpointData {
  /** The full run in progress or last finished. */
  full: {
    runId: string;
    status: 'running' | 'done';
    startedAt: string;
    /** When the full run finished; the retention period counts from here. */
    finishedAt?: string;
    streams: Partial<Record<EntityName, StreamCheckpoint>>;
    /** Express order's first pass over the tickets; absent in entity order. */
    workingSet?: WorkingSetCheckpoint;
    /** The source agent the run chose as the default agent (null: none); deltas reuse it. */
    defaultAgent?: string | null;
  } | null;
  /** Where deltas stand, per stream; started from the full run's final cursors. */
  delta?: {
    /** The full run these cursors continue; a new full run starts them afresh. */
    fullRunId: string;
    streams: Partial<Record<EntityName, StreamState | null>>;
    passes: number;
  } | null;
}

export interface CheckpointStore {
  load(): Promise<CheckpointData>;
  save(data: CheckpointData): Promise<void>;
}

/** Checkpoints in a JSON file under the state directory, replaced atomically (write, fsync, rename). */
export class FileCheckpointStore implements CheckpointStore {
  private readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    this.file = join(stateDir, 'checkpoints.json');
  }

  async load(): Promise<CheckpointData> {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as CheckpointData;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { full: null };
      throw err;
    }
  }

  save(data: CheckpointData): Promise<void> {
    const text = JSON.stringify(data, null, 2);
    this.writing = this.writing.then(() => {
      privateDir(dirname(this.file));
      const tmp = `${this.file}.tmp`;
      const fd = openSync(tmp, 'w', PRIVATE_FILE);
      try {
        writeFileSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
    });
    return this.writing;
  }
}
