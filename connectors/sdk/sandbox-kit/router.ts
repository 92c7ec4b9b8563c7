/** One declared route: method, path pattern and what answers it. */
export interface RouteSpec<H> {
  /** HTTP method, or `*` for any. */
  method: string;
  /** Path with `:name` placeholders, one segment each unless the router gives the name its own pattern. */
  pattern: string;
  handler: H;
}

export interface RouteMatch<H> {
  route: RouteSpec<H> & { key: string };
  /** The match; groups are the placeholders in order. */
  match: RegExpExecArray;
}

interface Compiled<H> {
  spec: RouteSpec<H> & { key: string };
  re: RegExp;
}

/**
 * A route table: the first declared route of the request's method whose pattern matches wins; a path
 * that only other methods match is told apart (for a 405).
 */
export class Router<H> {
  private readonly byMethod = new Map<string, Compiled<H>[]>();
  private readonly all: Compiled<H>[] = [];

  /** `params`: placeholder name → regular expression source (default `[^/]+`), e.g. `{ id: '\\d+' }`. */
  constructor(private readonly params: Record<string, string> = {}) {}

  add(method: string, pattern: string, handler: H): this {
    const source = pattern
      .split(/(:\w+)/)
      .map((part) => (part.startsWith(':') ? `(${this.params[part.slice(1)] ?? '[^/]+'})` : part.replace(/[.+?^${}()|[\]\\*]/g, '\\$&')))
      .join('');
    const compiled: Compiled<H> = { spec: { method, pattern, handler, key: `${method} ${pattern}` }, re: new RegExp(`^${source}$`) };
    this.all.push(compiled);
    // `*` routes join every method's list in declaration order, so one scan per request keeps first-match order.
    if (method === '*') for (const list of this.byMethod.values()) list.push(compiled);
    else {
      let list = this.byMethod.get(method);
      if (!list) this.byMethod.set(method, (list = this.all.filter((c) => c.spec.method === '*' && c !== compiled)));
      list.push(compiled);
    }
    return this;
  }

  /** The route answering `method path`, or the methods that other routes of that path take (empty: no route has the path). */
  match(method: string, path: string): RouteMatch<H> | { route: null; allowed: string[] } {
    const list = this.byMethod.get(method) ?? this.all.filter((c) => c.spec.method === '*');
    for (const c of list) {
      const m = c.re.exec(path);
      if (m) return { route: c.spec, match: m };
    }
    const allowed = new Set<string>();
    for (const c of this.all) if (c.re.test(path)) allowed.add(c.spec.method);
    return { route: null, allowed: [...allowed] };
  }
}
