/** Faults a test asks for: the next `count` API requests get `status`. */
export interface FaultSpec {
  /** Status to answer with, e.g. 500, 502, 503 or 429. */
  status: number;
  /** How many of the next API requests get it. */
  count: number;
  /** Retry-After in seconds: sent with every 429 (default 1), and with another status when given. */
  retryAfterSeconds?: number;
}

export interface Fault {
  status: number;
  /** The Retry-After header to send, if any. */
  retryAfter?: string;
}

/** Injected faults, served first in, first out, one request each. */
export class FaultQueue {
  private readonly queue: FaultSpec[] = [];

  push(spec: FaultSpec): void {
    if (spec.count > 0) this.queue.push({ ...spec });
  }

  /** The fault for the next request, if any is queued. */
  take(): Fault | undefined {
    const head = this.queue[0];
    if (!head) return undefined;
    head.count -= 1;
    if (head.count <= 0) this.queue.shift();
    const retry = head.status === 429 || head.retryAfterSeconds !== undefined ? String(head.retryAfterSeconds ?? 1) : undefined;
    return retry === undefined ? { status: head.status } : { status: head.status, retryAfter: retry };
  }

  /** Requests still to be faulted. */
  pending(): number {
    return this.queue.reduce((n, f) => n + f.count, 0);
  }
}
