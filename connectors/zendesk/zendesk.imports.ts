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
 * requests (up to 100 tickets each) and follows each job through `/api/v2/job_statuses/{id}` until
 * it completes, then answers every caller with its own ticket's ID or its own error. One request
 * carries what would otherwise be one request per ticket, which matters most under Zendesk's
 * per-minute limits.
 */
export class ImportBatcher {
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly jobTimeoutMs: number;
  private queue: Queued[] = [];
  private timer: NodeJS.Timeout | null = null;

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

  /** Polls the job until it is over, backing off from 250 ms to 2 s between polls. */
  private async follow(start: JobStatus): Promise<JobStatus> {
    let job = start;
    let wait = 250;
    const deadline = Date.now() + this.jobTimeoutMs;
    while (job.status === 'queued' || job.status === 'working') {
      if (Date.now() > deadline) {
        throw new HdmError('TIMEOUT', `zendesk bulk import job ${job.id} still ${job.status} after ${Math.round(this.jobTimeoutMs / 1000)} s`, {
          retryable: true,
          context: { platform: 'zendesk', path: `/api/v2/job_statuses/${job.id}` },
        });
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(2000, wait * 2);
      job = (await this.client.get<{ job_status: JobStatus }>(`/api/v2/job_statuses/${job.id}.json`)).job_status;
    }
    if (job.status !== 'completed') {
      throw new HdmError('REJECTED', `zendesk bulk import job ${job.id} ${job.status}: ${job.message ?? 'no message'}`, {
        retryable: job.status === 'killed',
        context: { platform: 'zendesk', path: `/api/v2/job_statuses/${job.id}` },
      });
    }
    return job;
  }
}
