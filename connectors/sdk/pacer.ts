/**
 * Client-side pacing by a platform's limit table (limits.ts): each request is mapped to the buckets it
 * draws from (the account, an endpoint, credits per request, background jobs in flight), admitted only
 * when every one of them has room, and each bucket learns its real numbers from the answers' rate-limit
 * headers. A 429 pauses the bucket that refused, never the whole client.
 */
import { HdmError } from '../../schemas/errors.ts';
import { bucketMatcher, creditsOf, type LimitBucket, type LimitedRequest, type LimitTable } from './limits.ts';
import { pause } from './retry.ts';
import type { LimitsNow } from './contract.ts';

/**
 * `auto` (default): the table's numbers until the account's answers state their own; a bucket the answers
 * never report is not paced ahead of a 429, and the endpoint buckets follow the plan the account limit
 * names. `plan`: the table's numbers, replaced only by numbers the answers state. `none`: no pacing ahead
 * of a 429; a 429 still pauses only its bucket.
 */
export type PacingMode = 'auto' | 'plan' | 'none';

export interface PacerOptions {
  /** The limit table of the configured plan (or the platform's default plan in `auto` and `none`). */
  table: LimitTable;
  /** How proactive the pacing is. Default `auto`. */
  mode?: PacingMode;
  /** Every plan's table, to recognise the plan from the account limit the answers state (`auto`). Default: `[table]`. */
  plans?: LimitTable[];
  /** Longest pause one Retry-After sets, in seconds. Default 120. */
  maxRetryAfterSeconds?: number;
  /** Multiplies every window length, as the sandboxes' `rateWindowSeconds` does (a test that shrinks the server's minute shrinks the client's with it). Default 1. */
  windowScale?: number;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
  /** Waits `ms` or until the signal aborts; tests that drive the clock pass their own. Default a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** An admitted request: what it drew, to be settled with its answer. */
export interface Pass {
  readonly buckets: readonly string[];
  /** Credits charged to the buckets that count credits. */
  readonly cost: number;
  /** Holds taken in `concurrent` buckets, until the answer binds them to a job or cancels them. */
  readonly holds: readonly { bucket: string; key: string }[];
  /** Per-key window keys, for buckets counted per ID. */
  readonly request: LimitedRequest;
  /** Order of admission: the answer to this pass was counted by the server before any pass admitted later. */
  readonly seq?: number;
}

/** What came back for a pass: status, headers (lower-case names) and parsed body; null when no answer arrived. */
export interface PacedAnswer {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

export interface BucketReport {
  /** The bucket's limit now (learned or from the table); null when it is not paced ahead of a 429. */
  limit: number | null;
  /** Where `limit` comes from. */
  limitFrom: 'table' | 'headers' | 'plan' | 'none';
  windowSeconds: number;
  kind: 'window' | 'concurrent';
  /** Requests admitted. */
  requests: number;
  /** Credits charged. */
  credits: number;
  /** 429s this bucket was found to have answered. */
  rateLimited: number;
  /** Requests that waited for this bucket before admission. */
  waited: number;
  /** Jobs in flight now (`concurrent` buckets). */
  inFlight: number;
  /** Most jobs in flight at once (`concurrent` buckets). */
  peakInFlight: number;
}

interface Window {
  start: number;
  used: number;
}

interface State {
  bucket: LimitBucket;
  /** Whether a request draws from this bucket (its routes compiled once). */
  draws: (req: LimitedRequest) => boolean;
  headers: { name: string; pattern: RegExp; fields: string[] }[];
  limit: number;
  limitFrom: BucketReport['limitFrom'];
  windowMs: number;
  windows: Map<string, Window>;
  /** Concurrent buckets: key → expiry (ms); unbound holds are keyed `#n`. */
  held: Map<string, number>;
  pausedUntil: number;
  /** When a spent bucket that {@link Pacer.probes} may next let one request ask the server. */
  nextProbe: number;
  /** Whether answers to requests drawing this bucket carry its headers: null until one answered. */
  advertised: boolean | null;
  /** Window buckets: admitted passes not answered yet, by admission order → charge. */
  unanswered: Map<number, number>;
  report: Omit<BucketReport, 'limit' | 'limitFrom' | 'windowSeconds' | 'kind' | 'inFlight'>;
}

/** Requests that draw no bucket of the table pause on this one when refused. */
const UNMAPPED = '(unmapped)';

const firstId = (path: string): string => /\/(\d+)(?=\/|$|\.json)/.exec(path)?.[1] ?? '';

/** A header template (`total={limit}; remaining={remaining}`) as a pattern capturing its placeholders. */
function templatePattern(template: string): { pattern: RegExp; fields: string[] } {
  const fields: string[] = [];
  const source = template
    .split(/(\{\w+\})/)
    .map((part) => {
      const field = /^\{(\w+)\}$/.exec(part)?.[1];
      if (field) {
        fields.push(field);
        return '\\s*(-?\\d+(?:\\.\\d+)?)\\s*';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s*');
    })
    .join('');
  return { pattern: new RegExp(`^\\s*${source}\\s*$`, 'i'), fields };
}

const PROBE_MS = 1000;

const JOB_DONE = new Set(['completed', 'failed', 'killed']);

/** Paces requests bucket by bucket; see the module comment. */
export class Pacer {
  readonly table: LimitTable;
  readonly mode: PacingMode;
  private readonly plans: LimitTable[];
  private readonly states: State[];
  private readonly unmapped: State;
  private readonly now: () => number;
  private readonly maxRetryAfterMs: number;
  private readonly pause: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly wakers = new Set<() => void>();
  private pending = 0;
  private admissions = 0;
  /** The account limit the answers stated, once they did; null when they state none. */
  private accountLearned: number | null | undefined;

  constructor(options: PacerOptions) {
    this.table = options.table;
    this.mode = options.mode ?? 'auto';
    this.plans = options.plans ?? [options.table];
    this.now = options.now ?? Date.now;
    this.pause = options.sleep ?? pause;
    this.maxRetryAfterMs = (options.maxRetryAfterSeconds ?? 120) * 1000;
    const proactive = this.mode !== 'none';
    const make = (bucket: LimitBucket): State => ({
      bucket,
      draws: bucketMatcher(bucket),
      headers: Object.entries(bucket.headers ?? {}).map(([name, template]) => ({ name: name.toLowerCase(), ...templatePattern(template) })),
      limit: proactive ? bucket.limit : Infinity,
      limitFrom: proactive ? 'table' : 'none',
      windowMs: Math.max(1, Math.round(bucket.windowSeconds * 1000 * (options.windowScale ?? 1))),
      windows: new Map(),
      held: new Map(),
      pausedUntil: 0,
      unanswered: new Map(),
      nextProbe: 0,
      advertised: null,
      report: { requests: 0, credits: 0, rateLimited: 0, waited: 0, peakInFlight: 0 },
    });
    this.states = this.table.buckets.map(make);
    this.unmapped = make({ name: UNMAPPED, description: 'requests no bucket of the table draws', matches: [], limit: Infinity, windowSeconds: 60 });
    this.unmapped.limit = Infinity;
    this.unmapped.limitFrom = 'none';
  }

  /** Names of the buckets `req` draws from, in table order. */
  bucketsOf(req: LimitedRequest): string[] {
    return this.drawn(req).map((s) => s.bucket.name);
  }

  private drawn(req: LimitedRequest): State[] {
    const drawn = this.states.filter((s) => s.draws(req));
    return drawn.length > 0 ? drawn : [this.unmapped];
  }

  private windowOf(s: State, req: LimitedRequest, now: number): Window {
    const key = s.bucket.perKey === 'id' ? firstId(req.path) : '';
    let w = s.windows.get(key);
    if (!w) {
      w = { start: now, used: 0 };
      s.windows.set(key, w);
      if (s.windows.size > 10_000) for (const [k, old] of s.windows) if (now - old.start >= s.windowMs) s.windows.delete(k);
    } else if (now - w.start >= s.windowMs) {
      w.start = now - ((now - w.start) % s.windowMs);
      if (now - w.start >= s.windowMs) w.start = now;
      w.used = 0;
    }
    return w;
  }

  private expire(s: State, now: number): void {
    for (const [key, expiry] of s.held) if (expiry <= now) s.held.delete(key);
  }

  /**
   * How long `req` must wait before every bucket it draws has room: 0 when it may go now, -1 when a
   * concurrent bucket is full (it waits for a release).
   */
  private waitFor(drawn: State[], req: LimitedRequest, cost: number, now: number): number {
    let wait = 0;
    for (const s of drawn) {
      if (s.pausedUntil > now) wait = Math.max(wait, s.pausedUntil - now);
      if (!Number.isFinite(s.limit)) continue;
      if (s.bucket.kind === 'concurrent') {
        this.expire(s, now);
        if (s.held.size >= s.limit) {
          const soonest = Math.min(...s.held.values());
          wait = Math.max(wait, Math.min(soonest - now, 1000));
        }
        continue;
      }
      const w = this.windowOf(s, req, now);
      const charge = s.bucket.countsCredits ? cost : 1;
      // A request dearer than the whole window still goes once the window is fresh.
      if (w.used > 0 && w.used + charge > s.limit) {
        if (this.probes(s)) {
          // The server states what is left but not when its window ends (Freshdesk): one request a second
          // asks it; a 429 then pauses the bucket until its Retry-After.
          if (now >= s.nextProbe) continue;
          wait = Math.max(wait, Math.min(w.start + s.windowMs, s.nextProbe) - now);
        } else wait = Math.max(wait, w.start + s.windowMs - now);
      }
    }
    return wait;
  }

  /**
   * Waits until every bucket `req` draws has room, then charges them. With `wait: false` a request that
   * would have to wait is not admitted: it fails at once with a retryable RATE_LIMITED marked `deferred`,
   * charging nothing, so a caller with other work can come back to it later.
   */
  async acquire(req: LimitedRequest, signal?: AbortSignal, options: { wait?: boolean } = {}): Promise<Pass> {
    const cost = creditsOf(this.table, req);
    const drawn = this.drawn(req);
    let waited = false;
    for (;;) {
      if (signal?.aborted) throw new HdmError('INTERRUPTED', `${this.table.platform} ${req.method} ${req.path} was not sent: the run was asked to stop`, { retryable: false, context: { platform: this.table.platform, method: req.method, path: req.path } });
      const now = this.now();
      const wait = this.waitFor(drawn, req, cost, now);
      if (wait <= 0) return this.charge(drawn, req, cost, now, waited);
      if (options.wait === false) {
        const buckets = drawn.filter((s) => this.waitFor([s], req, cost, now) > 0).map((s) => s.bucket.name);
        throw new HdmError('RATE_LIMITED', `${this.table.platform} ${req.method} ${req.path} was not sent: ${buckets.join(', ')} has no room for ${Math.ceil(wait / 1000)} s`, {
          context: { platform: this.table.platform, method: req.method, path: req.path, buckets, retryAfter: Math.ceil(wait / 1000), deferred: true },
        });
      }
      waited = true;
      await this.sleep(wait, signal);
    }
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.wakers.delete(done);
        resolve();
      };
      this.wakers.add(done);
      void this.pause(ms, signal).then(done);
    });
  }

  private wake(): void {
    const wakers = [...this.wakers];
    this.wakers.clear();
    for (const w of wakers) w();
  }

  private charge(drawn: State[], req: LimitedRequest, cost: number, now: number, waited: boolean): Pass {
    const holds: { bucket: string; key: string }[] = [];
    const seq = ++this.admissions;
    for (const s of drawn) {
      const charge = s.bucket.countsCredits ? cost : 1;
      s.report.requests += 1;
      s.report.credits += charge;
      if (waited) s.report.waited += 1;
      if (s.bucket.kind === 'concurrent') {
        const key = `#${++this.pending}`;
        s.held.set(key, now + s.windowMs);
        s.report.peakInFlight = Math.max(s.report.peakInFlight, s.held.size);
        holds.push({ bucket: s.bucket.name, key });
      } else if (s !== this.unmapped) {
        const w = this.windowOf(s, req, now);
        if (this.probes(s) && w.used + charge > s.limit) s.nextProbe = now + PROBE_MS;
        w.used += charge;
        s.unanswered.set(seq, charge);
      }
    }
    return { buckets: drawn.map((s) => s.bucket.name), cost, holds, request: req, seq };
  }

  /** Learns from the answer to `pass`; a 429 pauses the bucket that refused. `null`: no answer arrived. */
  settle(pass: Pass, answer: PacedAnswer | null): void {
    const now = this.now();
    const drawn = pass.buckets.map((name) => this.state(name)).filter((s): s is State => s !== undefined);
    if (pass.seq !== undefined) for (const s of drawn) s.unanswered.delete(pass.seq);
    this.settleJobs(pass, answer, now);
    if (!answer) return;
    const reported = new Map<State, Record<string, number>>();
    for (const s of drawn) {
      const values: Record<string, number> = {};
      for (const h of s.headers) {
        const raw = answer.headers[h.name];
        if (raw === undefined) continue;
        const m = h.pattern.exec(raw);
        if (!m) continue;
        h.fields.forEach((field, i) => (values[field] = Number(m[i + 1])));
      }
      if (Object.keys(values).length > 0) reported.set(s, values);
    }
    const counted = answer.status >= 200 && answer.status < 300;
    for (const s of drawn) {
      if (s.headers.length === 0 || s === this.unmapped) continue;
      const values = reported.get(s);
      if (values) this.learn(s, values, pass, now);
      else if (counted && s.advertised === null) {
        s.advertised = false;
        // An account that states no limit for this bucket is not paced ahead of its 429s (e.g. an unthrottled test server).
        if (this.mode === 'auto') this.setLimit(s, Infinity, 'none');
      }
      if (s.bucket.name === 'account' && this.accountLearned === undefined && (values || counted)) this.recognisePlan(values?.limit ?? null);
    }
    if (answer.status === 429) this.refused(drawn, pass.request, reported, answer, now);
  }

  private learn(s: State, values: Record<string, number>, pass: Pass, now: number): void {
    s.advertised = true;
    if (this.mode !== 'none' && values.limit !== undefined && values.limit > 0) this.setLimit(s, values.limit, 'headers');
    if (s.bucket.kind === 'concurrent' || this.mode === 'none') return;
    const w = this.windowOf(s, pass.request, now);
    if (values.reset !== undefined && values.reset >= 0) w.start = Math.min(now, now + values.reset * 1000 - s.windowMs);
    if (values.remaining === undefined || !Number.isFinite(s.limit)) return;
    // The server's count includes what other clients of the account spent. Without its window's end this
    // client's window is a guess, so the server's count replaces it; with it, never below what this one spent.
    // Requests admitted after this one are still on their way: the server has not counted them yet.
    w.used = this.probes(s) ? Math.max(0, s.limit - values.remaining) + this.admittedAfter(s, pass) : Math.max(w.used, s.limit - values.remaining);
  }

  /** Charges of the passes admitted after `pass` whose answers have not come back. */
  private admittedAfter(s: State, pass: Pass): number {
    if (pass.seq === undefined) return 0;
    let n = 0;
    for (const [seq, charge] of s.unanswered) if (seq > pass.seq) n += charge;
    return n;
  }

  /** A bucket the server reports without the end of its window: spent, it is asked once a second. */
  private probes(s: State): boolean {
    return s.advertised === true && !s.headers.some((h) => h.fields.includes('reset'));
  }

  private setLimit(s: State, limit: number, from: BucketReport['limitFrom']): void {
    const grew = limit > s.limit;
    s.limit = limit;
    s.limitFrom = from;
    if (grew) this.wake();
  }

  /** `auto`: the buckets no header reports take the numbers of the plan whose account limit the answers stated. */
  private recognisePlan(accountLimit: number | null): void {
    this.accountLearned = accountLimit;
    if (this.mode !== 'auto') return;
    const plan = accountLimit === null ? undefined : this.plans.find((t) => t.buckets.find((b) => b.name === 'account')?.limit === accountLimit);
    for (const s of this.states) {
      if (s.headers.length > 0) continue;
      const bucket = plan?.buckets.find((b) => b.name === s.bucket.name);
      if (bucket) this.setLimit(s, bucket.limit, 'plan');
      else this.setLimit(s, Infinity, 'none');
    }
  }

  /**
   * Which bucket answered a 429: the one whose own refusal body came back; else those whose headers say
   * they are spent; else the most specific bucket drawn that the headers do not clear (the account last).
   */
  private refused(drawn: State[], request: LimitedRequest, reported: Map<State, Record<string, number>>, answer: PacedAnswer, now: number): void {
    const body = answer.body === undefined ? undefined : JSON.stringify(answer.body);
    let culprits = drawn.filter((s) => s.bucket.refusal !== undefined && body !== undefined && JSON.stringify(s.bucket.refusal.body) === body);
    if (culprits.length === 0) culprits = drawn.filter((s) => reported.get(s)?.remaining === 0);
    if (culprits.length === 0) {
      const open = drawn.filter((s) => !((reported.get(s)?.remaining ?? 0) > 0));
      const pool = open.length > 0 ? open : drawn;
      culprits = [pool.filter((s) => s.bucket.name !== 'account').at(-1) ?? pool[0]];
    }
    const retryAfter = Number(answer.headers['retry-after']);
    for (const s of culprits) {
      const reset = reported.get(s)?.reset;
      const seconds = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : reset !== undefined ? reset : 1;
      const pauseMs = Math.max(100, Math.min(seconds * 1000, this.maxRetryAfterMs));
      s.pausedUntil = Math.max(s.pausedUntil, now + pauseMs);
      s.report.rateLimited += 1;
      if (s.bucket.kind !== 'concurrent' && s !== this.unmapped) {
        // The server's window ends when its Retry-After does: this one is spent until then, fresh after.
        const w = this.windowOf(s, request, now);
        w.start = now + pauseMs - s.windowMs;
        w.used = Number.isFinite(s.limit) ? s.limit : w.used;
      }
    }
  }

  /** Background jobs hold their slot from the answer that queued them until their status reads as finished. */
  private settleJobs(pass: Pass, answer: PacedAnswer | null, now: number): void {
    type Status = { id?: unknown; status?: unknown };
    const body = answer?.body as { job_status?: Status; job_statuses?: Status[] } | undefined;
    const job = body?.job_status;
    const jobId = job?.id === undefined || job.id === null ? undefined : String(job.id);
    let released = false;
    for (const hold of pass.holds) {
      const s = this.state(hold.bucket);
      if (!s) continue;
      const expiry = s.held.get(hold.key);
      s.held.delete(hold.key);
      if (answer && answer.status < 300 && jobId && expiry !== undefined) s.held.set(jobId, expiry);
      else released = true;
    }
    // A status read one job at a time, or several at once ("show many"), frees the slots of those finished.
    const read = [...(job ? [job] : []), ...(Array.isArray(body?.job_statuses) ? body.job_statuses : [])];
    for (const status of read) {
      if (status.id === undefined || status.id === null || !JOB_DONE.has(String(status.status))) continue;
      for (const s of this.states) if (s.bucket.kind === 'concurrent' && s.held.delete(String(status.id))) released = true;
    }
    if (released) this.wake();
    void now;
  }

  private state(name: string): State | undefined {
    return name === UNMAPPED ? this.unmapped : this.states.find((s) => s.bucket.name === name);
  }

  /** Jobs in flight now in a `concurrent` bucket. */
  inFlight(bucket: string): number {
    const s = this.state(bucket);
    if (!s) return 0;
    this.expire(s, this.now());
    return s.held.size;
  }

  /** Per bucket: its limit now and where it comes from, requests, credits, 429s, waits, jobs in flight. */
  report(): Record<string, BucketReport> {
    const out: Record<string, BucketReport> = {};
    for (const s of [...this.states, this.unmapped]) {
      if (s === this.unmapped && s.report.requests === 0) continue;
      out[s.bucket.name] = {
        limit: Number.isFinite(s.limit) ? s.limit : null,
        limitFrom: s.limitFrom,
        windowSeconds: s.bucket.windowSeconds,
        kind: s.bucket.kind ?? 'window',
        ...s.report,
        inFlight: s.held.size,
      };
    }
    return out;
  }
}

/** A pacer's table with each bucket's limit now, for projections (`hdm estimate`); null without a pacer. */
export function limitsOf(pacer: Pacer | null | undefined): LimitsNow | null {
  if (!pacer) return null;
  const report = pacer.report();
  return { table: pacer.table, limits: Object.fromEntries(pacer.table.buckets.map((b) => [b.name, report[b.name]?.limit ?? null])) };
}
