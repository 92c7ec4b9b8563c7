import { HdmError } from '../../schemas/errors.ts';
import type { ZendeskClient } from './zendesk.client.ts';

/** What Zendesk's bulk import answers for each ticket of a job. */
interface JobResult {
  index: number;
  id?: number;
  success?: boolean;
  error?: string;
  details?: string;
}

interface JobStatus {
  id: string;
  status: 'queued' | 'working' | 'failed' | 'completed' | 'killed';
  message?: string | null;
  results?: JobResult[] | null;
}

const RUNNING = new Set<JobStatus['status']>(['queued', 'working']);
/** Job IDs per "Show Many Job Statuses" request. */
const SHOW_MANY_IDS = 100;

/** A job being followed until it is over. */
interface Followed {
  id: string;
  status: JobStatus['status'];
  /** Milliseconds to the next poll after this one. */
  wait: number;
  due: number;
  deadline: number;
  resolve: (job: JobStatus) => void;
  reject: (err: unknown) => void;
}

interface Queued {
  ticket: Record<string, unknown>;
  sourceId: string;
  resolve: (id: number) => void;
  reject: (err: unknown) => void;
}

export interface ImportBatcherOptions {
  /** Tickets per `create_many` request; Zendesk takes at most 100. */
  batchSize?: number;
  /** How long the first ticket of a batch waits for others to join it. */
  lingerMs?: number;
  /** How long a job may stay queued or working before its tickets fail as retryable. */
  jobTimeoutMs?: number;
}

/**
 * Gathers the tickets that concurrent loads import into `POST /api/v2/imports/tickets/create_many`
 * requests (up to 100 tickets each) and follows the jobs through `/api/v2/job_statuses/show_many` until
 * each completes, then answers every caller with its own ticket's ID or its own error. One request
 * carries what would otherwise be one request per ticket, which matters most under Zendesk's
 * per-minute limits.
 */
export class ImportBatcher {
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly jobTimeoutMs: number;
  private queue: Queued[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly followed = new Map<string, Followed>();
  private pollTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;

  constructor(
    private readonly client: ZendeskClient,
    options: ImportBatcherOptions = {},
  ) {
    this.batchSize = Math.min(100, Math.max(1, options.batchSize ?? 100));
    this.lingerMs = options.lingerMs ?? 50;
    this.jobTimeoutMs = options.jobTimeoutMs ?? 10 * 60_000;
  }

  /** Imports one ticket (the `ticket` object of the import API) as part of a batch; resolves to its ID. */
  import(ticket: Record<string, unknown>, sourceId: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ ticket, sourceId, resolve, reject });
      if (this.queue.length >= this.batchSize) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      void this.run(batch).catch((err) => {
        for (const q of batch) q.reject(err);
      });
    }
  }

  private async run(batch: Queued[]): Promise<void> {
    const res = await this.client.send<{ job_status: JobStatus }>({
      method: 'POST',
      path: '/api/v2/imports/tickets/create_many.json',
      json: { tickets: batch.map((q) => q.ticket) },
    });
    const job = await this.follow(res.body.job_status);
    const byIndex = new Map((job.results ?? []).map((r) => [r.index, r]));
    batch.forEach((q, index) => {
      const result = byIndex.get(index);
      if (result?.id !== undefined && result.success !== false) {
        q.resolve(result.id);
        return;
      }
      const reason = result ? `${result.error ?? 'failed'}${result.details ? `: ${result.details}` : ''}` : 'no result for this ticket in the job';
      q.reject(
        new HdmError('REJECTED', `zendesk refused to import ticket ${q.sourceId} (bulk import job ${job.id}): ${reason}`, {
          retryable: false,
          context: { platform: 'zendesk', entity: 'ticket', recordId: q.sourceId, path: '/api/v2/imports/tickets/create_many' },
        }),
      );
    });
  }

  /**
   * Resolves once the job is over. Every job in flight is followed by one poller: when the earliest is due
   * (250 ms after its answer, then backing off to 2 s), the statuses of all of them are read in one
   * "Show Many Job Statuses" request, so jobs that overlap share their polls.
   */
  private follow(start: JobStatus): Promise<JobStatus> {
    if (!RUNNING.has(start.status)) return Promise.resolve(over(start));
    return new Promise<JobStatus>((resolve, reject) => {
      this.followed.set(start.id, { id: start.id, status: start.status, wait: 250, due: Date.now() + 250, deadline: Date.now() + this.jobTimeoutMs, resolve, reject });
      this.schedulePoll();
    });
  }

  private schedulePoll(): void {
    if (this.polling || this.pollTimer || this.followed.size === 0) return;
    const due = Math.min(...[...this.followed.values()].map((f) => f.due));
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedulePoll();
      });
    }, Math.max(0, due - Date.now()));
  }

  private async poll(): Promise<void> {
    const now = Date.now();
    for (const f of this.followed.values()) {
      if (now <= f.deadline) continue;
      this.followed.delete(f.id);
      f.reject(
        new HdmError('TIMEOUT', `zendesk bulk import job ${f.id} still ${f.status} after ${Math.round(this.jobTimeoutMs / 1000)} s`, {
          retryable: true,
          context: { platform: 'zendesk', path: `/api/v2/job_statuses/${f.id}` },
        }),
      );
    }
    const ids = [...this.followed.keys()];
    for (let i = 0; i < ids.length; i += SHOW_MANY_IDS) {
      const chunk = ids.slice(i, i + SHOW_MANY_IDS);
      let statuses: JobStatus[];
      try {
        const body = await this.client.get<{ job_statuses?: JobStatus[] }>(`/api/v2/job_statuses/show_many.json?ids=${chunk.map(encodeURIComponent).join(',')}`);
        statuses = body.job_statuses ?? [];
      } catch (err) {
        for (const id of chunk) {
          this.followed.get(id)?.reject(err);
          this.followed.delete(id);
        }
        continue;
      }
      const byId = new Map(statuses.map((j) => [String(j.id), j]));
      for (const id of chunk) {
        const f = this.followed.get(id);
        if (!f) continue;
        const job = byId.get(id);
        if (job && !RUNNING.has(job.status)) {
          this.followed.delete(id);
          try {
            f.resolve(over(job));
          } catch (err) {
            f.reject(err);
          }
          continue;
        }
        // Still queued or working (or not listed yet): polled again after a longer wait.
        if (job) f.status = job.status;
        f.wait = Math.min(2000, f.wait * 2);
        f.due = Date.now() + f.wait;
      }
    }
  }
}

/** A job that is no longer queued or working: completed, or an error saying how it ended. */
function over(job: JobStatus): JobStatus {
  if (job.status === 'completed') return job;
  throw new HdmError('REJECTED', `zendesk bulk import job ${job.id} ${job.status}: ${job.message ?? 'no message'}`, {
    retryable: job.status === 'killed',
    context: { platform: 'zendesk', path: `/api/v2/job_statuses/${job.id}` },
  });
}
