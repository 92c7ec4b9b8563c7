import { HdmError } from '../../schemas/errors.ts';

/** Network errors raised before a request could leave this machine: sending it again is safe. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Whether the server may have received, and acted on, a request that failed this way. */
export function mayHaveArrived(error: HdmError): boolean {
  // A cut-short 2xx body (BAD_RESPONSE) means the server did act; only its answer is lost.
  if (error.code === 'SERVER_ERROR' || error.code === 'TIMEOUT' || error.code === 'BAD_RESPONSE') return true;
  if (error.code !== 'UNREACHABLE') return false;
  let cause: unknown = error.cause;
  for (let depth = 0; cause && depth < 4; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT.has(code)) return false;
    cause = (cause as { cause?: unknown }).cause;
  }
  return true;
}

function outcomeUnknown(error: HdmError): HdmError {
  return new HdmError(
    'OUTCOME_UNKNOWN',
    `${error.message} — the request may have been carried out; it is not sent again before the target is checked`,
    { retryable: true, context: error.context, cause: error },
  );
}

/** Waits `ms`, or less if `signal` aborts first (the caller then checks the signal). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The error for a request cut by a stop request: never retried, never a record's fault. */
export function interrupted(platform: string, method: string, path: string): HdmError {
  return new HdmError('INTERRUPTED', `${platform} ${method} ${path} was cut short: the run was asked to stop`, {
    retryable: false,
    context: { platform, method, path },
  });
}

export interface RetryPolicyOptions {
  /** Platform name, used in error context. */
  platform: string;
  /** Attempts for a retryable failure (5xx, network, timeout) before giving up; 429s do not count. Default 8. */
  maxAttempts?: number;
  /** Longest wait honoured for one Retry-After, in seconds. Default 120. */
  maxRetryAfterSeconds?: number;
  /** How long one call waits out consecutive 429s before giving up, in milliseconds. Default 1800000 (30 minutes). */
  rateLimitPatienceMs?: number;
  /** Once aborted, waits end and new attempts fail at once with INTERRUPTED. Default: none. */
  signal?: AbortSignal;
  /** Counters this policy adds its 429s, 5xx answers and retries to. Default: its own. */
  stats?: RetryStats;
}

/** What a retry policy counts, and what it is waiting for now: what an operator reads as the platform's health. */
export interface RetryStats {
  rateLimited: number;
  retries: number;
  /** Answers with a 5xx status. */
  serverErrors?: number;
  /** Until when (ms since the epoch) every call waits out a 429; null before the first. */
  rateLimitedUntil?: number | null;
  /** The latest retry: what failed, which attempt comes next and when. */
  lastRetry?: LastRetry | null;
}

export interface LastRetry {
  /** When the failure arrived, ms since the epoch. */
  at: number;
  code: string;
  httpStatus: number | null;
  method: string;
  path: string;
  /** The attempt about to be made. */
  attempt: number;
  /** When it is made, ms since the epoch. */
  nextAt: number;
}

export interface RetryCall {
  method: string;
  /** The URL's path, for errors. */
  path: string;
  /** Whether sending the call twice does no harm; one that is not is never resent once it may have arrived. */
  idempotent: boolean;
  /** Attempts for this call, never more than the policy's. */
  maxAttempts?: number;
  /** How long this call waits out 429s, in ms; 0 fails at the first one (marked `deferred`). Default: the policy's. */
  rateLimitPatienceMs?: number;
  /**
   * Whether a bucket pacer admits each attempt (connectors/sdk/pacer.ts): its 429s pause the bucket that
   * refused, so the policy neither waits for nor sets the pause shared by the calls that are not paced.
   */
  paced?: boolean;
  /** Turns what an attempt threw, when it is not an HdmError, into one. */
  toError(err: unknown): HdmError;
}

/**
 * The one retry policy of every HTTP exchange with a platform (API calls and attachment downloads):
 * 429s waited out by Retry-After within a patience: by the bucket that refused when a pacer admits the
 * call, else shared by every unpaced call of the policy; other retryable failures retried with jittered exponential backoff (or the server's
 * Retry-After) up to a number of attempts; a call that is not idempotent never sent again once it may
 * have reached the server.
 */
export class RetryPolicy {
  readonly platform: string;
  readonly stats: RetryStats;
  private readonly maxAttempts: number;
  private readonly maxRetryAfter: number;
  private readonly patienceMs: number;
  private readonly stop: AbortSignal | undefined;
  /** When a 429 arrives, every call waits until this instant. */
  private pausedUntil = 0;

  constructor(options: RetryPolicyOptions) {
    this.platform = options.platform;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.maxRetryAfter = options.maxRetryAfterSeconds ?? 120;
    this.patienceMs = options.rateLimitPatienceMs ?? 30 * 60_000;
    this.stop = options.signal;
    this.stats = options.stats ?? { rateLimited: 0, retries: 0 };
  }

  async run<T>(call: RetryCall, attemptOnce: () => Promise<T>): Promise<T> {
    let attempt = 0;
    let failures = 0;
    let rateLimitedSince: number | null = null;
    for (;;) {
      attempt += 1;
      const wait = call.paced ? 0 : this.pausedUntil - Date.now();
      if (wait > 0) await pause(wait, this.stop);
      if (this.stop?.aborted) throw interrupted(this.platform, call.method, call.path);
      let outcome: HdmError;
      try {
        return await attemptOnce();
      } catch (err) {
        outcome = err instanceof HdmError ? err : call.toError(err);
      }
      // Not sent: the pacer found its bucket spent and the caller would rather come back than wait.
      if (outcome.code === 'RATE_LIMITED' && outcome.context.deferred === true) throw outcome;
      const status = typeof outcome.context.httpStatus === 'number' ? outcome.context.httpStatus : null;
      if (status !== null && status >= 500) this.stats.serverErrors = (this.stats.serverErrors ?? 0) + 1;
      if (outcome.code === 'RATE_LIMITED') {
        this.stats.rateLimited += 1;
        rateLimitedSince ??= Date.now();
        // A 429 is the server pacing us, not failing: waited out however many come, within the patience.
        const patienceMs = call.rateLimitPatienceMs ?? this.patienceMs;
        if (patienceMs === 0) throw new HdmError('RATE_LIMITED', outcome.message, { context: { ...outcome.context, deferred: true }, cause: outcome });
        if (Date.now() - rateLimitedSince >= patienceMs) throw outcome;
      } else {
        failures += 1;
        rateLimitedSince = null;
        if (!call.idempotent && mayHaveArrived(outcome)) throw outcomeUnknown(outcome);
        if (failures >= Math.min(call.maxAttempts ?? this.maxAttempts, this.maxAttempts)) throw outcome;
      }
      if (!outcome.retryable) throw outcome;
      this.stats.retries += 1;
      const delayMs = this.delayMs(outcome, attempt);
      const now = Date.now();
      const until = now + delayMs;
      if (outcome.code === 'RATE_LIMITED') {
        // A paced call waits in its bucket (the pacer); others pause the whole client.
        if (!call.paced) this.pausedUntil = Math.max(this.pausedUntil, until);
        this.stats.rateLimitedUntil = Math.max(this.stats.rateLimitedUntil ?? 0, until);
      }
      this.stats.lastRetry = { at: now, code: outcome.code, httpStatus: status, method: call.method, path: call.path, attempt: attempt + 1, nextAt: until };
      if (outcome.code !== 'RATE_LIMITED') await pause(delayMs, this.stop);
    }
  }

  /** The wait before the next attempt: the server's Retry-After when it gave one, capped; else jittered backoff. */
  delayMs(failure: HdmError, attempt: number): number {
    const retryAfter = failure.context.retryAfter;
    return retryAfter !== undefined ? Math.min(retryAfter, this.maxRetryAfter) * 1000 : Math.min(30_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
  }
}
