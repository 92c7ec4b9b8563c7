/**
 * A platform's API limits as data: per plan, the buckets a request draws from (account, per endpoint,
 * per key, credits, jobs in flight), and a limiter that enforces such a table. The sandboxes enforce
 * these tables; the engine's HTTP layer can pace by the same ones.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Which requests a bucket draws: method and route pattern. */
export interface RouteMatch {
  /** HTTP method, or `*` for any. */
  method: HttpMethod | '*';
  /**
   * Path with any `.json` suffix removed: `:id` is one numeric segment, `*` one segment of any kind,
   * a trailing `**` any rest (including none).
   */
  path: string;
  /** Only when this query parameter is a number above `value` (e.g. offset pages past 500). */
  queryAbove?: { param: string; value: number };
}

/** One limit a platform enforces. */
export interface LimitBucket {
  /** Stable name, e.g. `account`, `ticket-create`. */
  name: string;
  /** What it limits, in a few words, for printed tables. */
  description: string;
  /** Requests drawn from this bucket. */
  matches: RouteMatch[];
  /** Requests not drawn even when `matches` matches them. */
  except?: RouteMatch[];
  /** Requests (or credits) per window; for a `concurrent` bucket, how many may be in flight at once. */
  limit: number;
  /** Window length in seconds; for a `concurrent` bucket, how long an unreleased hold lasts at most. */
  windowSeconds: number;
  /** `window` (default): a count per fixed window. `concurrent`: holds in flight, e.g. background jobs. */
  kind?: 'window' | 'concurrent';
  /** A separate count per value of the route's first numeric ID (e.g. per ticket). */
  perKey?: 'id';
  /** Counts each request's credits instead of 1. */
  countsCredits?: boolean;
  /**
   * Response headers this bucket is reported in, name → template. Placeholders: `{limit}`,
   * `{remaining}`, `{reset}` (seconds until the window resets), `{cost}` (credits of this request).
   */
  headers?: Record<string, string>;
  /** The 429 answer when this bucket refuses. Default: the table's `refusal`. */
  refusal?: Refusal;
}

export interface Refusal {
  /** JSON body, or a string sent as text/plain. */
  body: unknown;
}

/** What a request costs when the platform charges credits (e.g. Freshdesk's `include`). */
export interface CreditRule {
  /** Query parameter whose comma-separated values each cost extra. */
  queryParam: string;
  /** Extra credits per value, on top of the request's 1. */
  perValue: number;
  /** Routes whose values cost otherwise, first match wins (Freshdesk's View a Ticket: 1 a value). Default none. */
  routes?: { match: RouteMatch; perValue: number }[];
}

export interface LimitTable {
  platform: string;
  /** Plan name as the CLI and the migration file spell it. */
  plan: string;
  /** Add-ons in force, e.g. `high-volume`. */
  addOns: string[];
  /** Reference pages the numbers come from. */
  sources: string[];
  buckets: LimitBucket[];
  credits?: CreditRule;
  /** The 429 answer of a bucket without its own. */
  refusal: Refusal;
}

export interface LimitedRequest {
  method: string;
  /** Path without query; a `.json` suffix is ignored. */
  path: string;
  query?: URLSearchParams;
}

export type Admission =
  | {
      ok: true;
      /** Rate-limit headers for the response. */
      headers: Record<string, string>;
      /** Credits charged. */
      cost: number;
      /** Names of the buckets drawn from. */
      buckets: string[];
      /** Holds taken in `concurrent` buckets: bind each to the ID it is held for, or cancel it. */
      holds: Hold[];
    }
  | {
      ok: false;
      /** The bucket that refused (the one with the longest wait when several did). */
      bucket: string;
      retryAfterSeconds: number;
      headers: Record<string, string>;
      refusal: Refusal;
      cost: number;
    };

export interface Hold {
  bucket: string;
  /** Keeps the hold until `release(bucket, key)` or its expiry. */
  bind(key: string): void;
  /** Gives the slot back (the request that took it did not start a job). */
  cancel(): void;
}

export interface LimiterOptions {
  /**
   * Multiplies every window length (tests shrink a minute to a second with 1/60). Default 1.
   */
  windowScale?: number;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
}

/** `path` of a route pattern compiled to a regular expression. */
export function compileRoute(path: string): RegExp {
  const parts = path.split('/').map((part) => {
    if (part === ':id') return '\\d+';
    if (part === '*') return '[^/]+';
    if (part === '**') return '.*';
    return part.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  });
  let source = parts.join('/');
  // `/a/**` also matches `/a` itself.
  source = source.replace(/\/\.\*$/, '(?:/.*)?');
  return new RegExp(`^${source}$`);
}

const normalize = (path: string) => path.replace(/\.json$/, '').replace(/\/+$/, '') || '/';

/** Does `route` draw `req`? */
export function routeMatches(route: RouteMatch, req: LimitedRequest, compiled = compileRoute(route.path)): boolean {
  if (route.method !== '*' && route.method !== req.method.toUpperCase()) return false;
  if (!compiled.test(normalize(req.path))) return false;
  if (route.queryAbove) {
    const value = Number(req.query?.get(route.queryAbove.param));
    if (!(value > route.queryAbove.value)) return false;
  }
  return true;
}

/** Credits a request costs under `table`: 1, plus the credit rule's extra per listed value. */
export function creditsOf(table: Pick<LimitTable, 'credits'>, req: LimitedRequest): number {
  if (!table.credits) return 1;
  const raw = req.query?.get(table.credits.queryParam) ?? '';
  const values = raw
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (values.length === 0) return 1;
  const route = table.credits.routes?.find((r) => routeMatches(r.match, req));
  return 1 + values.length * (route ?? table.credits).perValue;
}

/** A bucket's routes compiled once: whether a request draws from the bucket. */
export function bucketMatcher(bucket: LimitBucket): (req: LimitedRequest) => boolean {
  const matches = bucket.matches.map((m) => [m, compileRoute(m.path)] as const);
  const except = (bucket.except ?? []).map((m) => [m, compileRoute(m.path)] as const);
  return (req) => matches.some(([m, re]) => routeMatches(m, req, re)) && !except.some(([m, re]) => routeMatches(m, req, re));
}

/** The buckets of `table` that `req` draws from, in table order. */
export function bucketsFor(table: LimitTable, req: LimitedRequest): LimitBucket[] {
  return table.buckets.filter((b) => bucketMatcher(b)(req));
}

/**
 * A copy of `table` with some bucket limits replaced; `null` removes the bucket. Names not in the
 * table are ignored.
 */
export function withLimits(table: LimitTable, limits: Record<string, number | null | undefined>): LimitTable {
  const buckets: LimitBucket[] = [];
  for (const b of table.buckets) {
    const next = limits[b.name];
    if (next === undefined) buckets.push(b);
    else if (next !== null) buckets.push({ ...b, limit: next });
  }
  return { ...table, buckets };
}

interface WindowState {
  start: number;
  used: number;
}

interface ConcurrentState {
  /** key → expiry (ms). Pending holds are keyed `#n` until bound. */
  held: Map<string, number>;
}

const firstId = (path: string): string | null => /\/(\d+)(?=\/|$|\.json)/.exec(path)?.[1] ?? null;

/** Enforces a {@link LimitTable}: a request is admitted only when every bucket it draws from has room. */
export class BucketLimiter {
  private readonly windows = new Map<string, WindowState>();
  private readonly concurrent = new Map<string, ConcurrentState>();
  private readonly compiled: { bucket: LimitBucket; draws: (req: LimitedRequest) => boolean }[];
  private readonly scale: number;
  private readonly now: () => number;
  private pending = 0;
  private readonly counts = new Map<string, { admitted: number; refused: number; credits: number }>();

  constructor(
    readonly table: LimitTable,
    options: LimiterOptions = {},
  ) {
    this.scale = options.windowScale ?? 1;
    this.now = options.now ?? Date.now;
    this.compiled = table.buckets.map((bucket) => ({ bucket, draws: bucketMatcher(bucket) }));
  }

  /** Length of a bucket's window in ms, after scaling. */
  windowMs(bucket: LimitBucket): number {
    return Math.max(1, Math.round(bucket.windowSeconds * 1000 * this.scale));
  }

  private drawn(req: LimitedRequest): LimitBucket[] {
    return this.compiled.filter((c) => c.draws(req)).map((c) => c.bucket);
  }

  private windowOf(bucket: LimitBucket, key: string, now: number): WindowState {
    const id = `${bucket.name}\u0000${key}`;
    const length = this.windowMs(bucket);
    let w = this.windows.get(id);
    if (!w) {
      w = { start: now, used: 0 };
      this.windows.set(id, w);
    } else if (now - w.start >= length) {
      // Windows stay on their grid, as a platform's minute does, unless the bucket sat idle past a whole window.
      w.start = now - ((now - w.start) % length);
      if (now - w.start >= length) w.start = now;
      w.used = 0;
    }
    return w;
  }

  private concurrentOf(bucket: LimitBucket, now: number): ConcurrentState {
    let c = this.concurrent.get(bucket.name);
    if (!c) {
      c = { held: new Map() };
      this.concurrent.set(bucket.name, c);
    }
    for (const [key, expiry] of c.held) if (expiry <= now) c.held.delete(key);
    return c;
  }

  private admitted = 0;

  private prune(now: number): void {
    if (++this.admitted % 1000 !== 0 || this.windows.size < 1000) return;
    const longest = Math.max(...this.table.buckets.map((b) => this.windowMs(b)));
    for (const [id, w] of this.windows) if (now - w.start >= longest) this.windows.delete(id);
  }

  /** Admits `req` (charging every bucket it draws from) or refuses it (charging none). */
  admit(req: LimitedRequest): Admission {
    const now = this.now();
    this.prune(now);
    const cost = creditsOf(this.table, req);
    const drawn = this.drawn(req);
    const checks = drawn.map((bucket) => {
      const charge = bucket.countsCredits ? cost : 1;
      if (bucket.kind === 'concurrent') {
        const state = this.concurrentOf(bucket, now);
        const soonest = Math.min(...state.held.values());
        const resetMs = state.held.size === 0 ? 0 : Math.max(0, soonest - now);
        return { bucket, charge, ok: state.held.size < bucket.limit, used: state.held.size, resetMs, window: null as WindowState | null, state };
      }
      const key = bucket.perKey === 'id' ? (firstId(req.path) ?? '') : '';
      const window = this.windowOf(bucket, key, now);
      const resetMs = window.start + this.windowMs(bucket) - now;
      return { bucket, charge, ok: window.used + charge <= bucket.limit, used: window.used, resetMs, window, state: null as ConcurrentState | null };
    });
    const refused = checks.filter((c) => !c.ok);
    const headers = (after: boolean) => {
      const out: Record<string, string> = {};
      for (const c of checks) {
        const used = after ? c.used + c.charge : c.used;
        for (const [name, template] of Object.entries(c.bucket.headers ?? {})) {
          out[name] = fill(template, {
            limit: c.bucket.limit,
            remaining: Math.max(0, c.bucket.limit - used),
            reset: Math.max(1, Math.ceil(c.resetMs / 1000)),
            cost,
          });
        }
      }
      return out;
    };
    const count = (name: string) => {
      let c = this.counts.get(name);
      if (!c) this.counts.set(name, (c = { admitted: 0, refused: 0, credits: 0 }));
      return c;
    };
    if (refused.length > 0) {
      const worst = refused.reduce((a, b) => (b.resetMs > a.resetMs ? b : a));
      count(worst.bucket.name).refused += 1;
      return {
        ok: false,
        bucket: worst.bucket.name,
        retryAfterSeconds: Math.max(1, Math.ceil(worst.resetMs / 1000)),
        headers: headers(false),
        refusal: worst.bucket.refusal ?? this.table.refusal,
        cost,
      };
    }
    const holds: Hold[] = [];
    for (const c of checks) {
      const n = count(c.bucket.name);
      n.admitted += 1;
      n.credits += c.charge;
      if (c.window) c.window.used += c.charge;
      if (c.state) {
        const state = c.state;
        const bucket = c.bucket;
        const pendingKey = `#${++this.pending}`;
        const expiry = now + this.windowMs(bucket);
        state.held.set(pendingKey, expiry);
        holds.push({
          bucket: bucket.name,
          bind: (key: string) => {
            if (!state.held.delete(pendingKey)) return;
            state.held.set(key, expiry);
          },
          cancel: () => void state.held.delete(pendingKey),
        });
      }
    }
    return { ok: true, headers: headers(true), cost, buckets: drawn.map((b) => b.name), holds };
  }

  /** Per bucket so far: requests admitted, requests it refused (each refusal is counted on one bucket), credits charged. */
  stats(): Record<string, { admitted: number; refused: number; credits: number }> {
    return Object.fromEntries([...this.counts].map(([name, c]) => [name, { ...c }]));
  }

  /** Ends the hold `key` in the concurrent bucket `bucket` (e.g. a job finished). */
  release(bucket: string, key: string): boolean {
    return this.concurrent.get(bucket)?.held.delete(key) ?? false;
  }

  /** Holds in flight in a concurrent bucket. */
  inFlight(bucket: string): number {
    const b = this.table.buckets.find((x) => x.name === bucket);
    if (!b) return 0;
    return this.concurrentOf(b, this.now()).held.size;
  }
}

const fill = (template: string, values: Record<string, number>) => template.replace(/\{(\w+)\}/g, (_, k: string) => String(values[k] ?? ''));

/** A readable table of `table`'s buckets, one line each, for `hdm sandbox` and the docs. */
export function formatLimitTable(table: LimitTable, options: { windowScale?: number } = {}): string {
  const scale = options.windowScale ?? 1;
  const rows = table.buckets.map((b) => [b.name, limitText(b, scale), b.matches.map(routeText).join(', ') + (b.except?.length ? ` (not ${b.except.map(routeText).join(', ')})` : '')]);
  const head = ['bucket', 'limit', 'requests'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const title = `${table.platform} ${table.plan}${table.addOns.length ? ` + ${table.addOns.join(', ')}` : ''}`;
  const credits = table.credits ? [`credits: 1 per request, +${table.credits.perValue} per \`${table.credits.queryParam}\` value${creditRoutesText(table.credits, (r) => routeText(r))}`] : [];
  return [title, line(head), ...rows.map(line), ...credits].join('\n');
}

/** ` (GET /a/:id: +1)` for the routes a credit rule prices otherwise. */
function creditRoutesText(rule: CreditRule, route: (m: RouteMatch) => string): string {
  if (!rule.routes?.length) return '';
  return ` (${rule.routes.map((r) => `${route(r.match)}: +${r.perValue}`).join(', ')})`;
}

/** `700 / 1 min`, `30 / 10 min per id`, `30 in flight`, with credits noted. */
export function limitText(b: LimitBucket, windowScale = 1): string {
  if (b.kind === 'concurrent') return `${b.limit} in flight`;
  const seconds = b.windowSeconds * windowScale;
  const window = seconds % 60 === 0 ? `${seconds / 60} min` : `${+seconds.toFixed(3)} s`;
  return `${b.limit}${b.countsCredits ? ' credits' : ''} / ${window}${b.perKey ? ' per :id' : ''}`;
}

export function routeText(m: RouteMatch): string {
  return `${m.method === '*' ? '' : `${m.method} `}${m.path}${m.queryAbove ? `?${m.queryAbove.param}>${m.queryAbove.value}` : ''}`;
}

/** `table` as a Markdown table: bucket, limit, requests, headers, what it is. */
export function limitTableMarkdown(table: LimitTable): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = table.buckets.map((b) => {
    const requests = b.matches.map((m) => `\`${routeText(m)}\``).join(', ') + (b.except?.length ? ` except ${b.except.map((m) => `\`${routeText(m)}\``).join(', ')}` : '');
    const headers = Object.keys(b.headers ?? {})
      .map((h) => `\`${h}\``)
      .join(', ');
    return `| \`${b.name}\` | ${limitText(b)} | ${cell(requests)} | ${headers || '–'} | ${cell(b.description)} |`;
  });
  const credits = table.credits
    ? `\n\nCredits: each request costs 1, plus ${table.credits.perValue} per value of \`${table.credits.queryParam}\`${creditRoutesText(table.credits, (r) => `\`${routeText(r)}\``)}; buckets marked "credits" count credits.`
    : '';
  return ['| bucket | limit | requests | headers | what |', '|---|---|---|---|---|', ...rows].join('\n') + credits;
}
