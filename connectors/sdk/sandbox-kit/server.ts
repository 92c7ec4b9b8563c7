import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Admission, BucketLimiter } from '../limits.ts';
import { FaultQueue } from './faults.ts';
import { HttpError, type Reply, send } from './reply.ts';
import { Router } from './router.ts';

/** What every request carries into a platform's hooks and handlers. */
export interface KitRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  url: URL;
  /** The path after the platform's `normalizePath`. */
  path: string;
  query: URLSearchParams;
  /** The admission the limiter gave (null before it ran, for control and unlimited requests). */
  admission: Admission | null;
}

export type KitHandler<C> = (ctx: C, match: RegExpExecArray) => Reply | Promise<Reply>;

/** A platform's sandbox, declared: its routes, its limits and how it speaks. */
export interface SandboxDeclaration<C extends KitRequest> {
  routes: Router<KitHandler<C>>;
  /** The limiter in force (read per request, so a sandbox may swap it); null serves unlimited. */
  limiter(): BucketLimiter | null;
  /** Default: path without a trailing slash. */
  normalizePath?(pathname: string): string;
  /** The handler context, built once a request arrives; may throw an {@link HttpError} to answer at once. */
  context(base: KitRequest): C | Promise<C>;
  /** Test controls under `prefix` (not counted, never faulted or limited). */
  control?: { prefix: string; handle(ctx: C): Reply | Promise<Reply> };
  /** Answers a request that is not an API request (files, unknown roots) before it is counted; undefined goes on. */
  outside?(ctx: C): Reply | Promise<Reply> | undefined;
  /** Headers on every API answer. */
  apiHeaders?: Record<string, string>;
  /** The body of an injected fault. */
  faultBody(status: number, ctx: C): unknown;
  /** Requests the limiter does not draw (e.g. attachment downloads). */
  unlimited?(ctx: C): boolean;
  /**
   * Checks after the limiter (authentication, Accept): a reply refuses the request. Rate-limit headers
   * are on it only if it puts them there (`ctx.admission.headers`).
   */
  guard?(ctx: C): Reply | undefined;
  /** The answer when no route takes the request; `allowed` lists the methods other routes of the path take. */
  noRoute(ctx: C, allowed: string[]): Reply;
  /** The body of a 500 for an error that is not an {@link HttpError}. */
  internalError(err: Error): unknown;
  /**
   * Background jobs for `concurrent` buckets: the job a reply started (its holds are bound to it; without one
   * they are given back) and the jobs a reply shows finished (their holds end).
   */
  jobs?: { started(reply: Reply): string | undefined; finished(reply: Reply): string[] };
  /** Strings as text/plain (true) or as JSON strings. Default true. */
  textStrings?: boolean;
}

export interface KitServerOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

/** A running sandbox core: its URL, what it served, its faults, and a way to stop it. */
export interface KitServer {
  readonly url: string;
  readonly faults: FaultQueue;
  /** API requests received (not control requests nor those `outside` answered). */
  served(): number;
  /** API requests by method and path with numeric IDs folded to `:id`, e.g. `GET /api/v2/tickets/:id`. */
  servedByPath(): Map<string, number>;
  /** API requests a route took, by its key (`GET /api/v2/tickets/:id`). */
  servedByRoute(): Map<string, number>;
  /** API requests answered 429 (injected or refused by the limiter). */
  rateLimited(): number;
  close(): Promise<void>;
}

const foldIds = (path: string) => path.replace(/\/\d+(?=\/|$)/g, '/:id');

/**
 * Serves a declared sandbox over node:http. Per API request: count it, answer an injected fault, admit it
 * through the limit table (429 + Retry-After), run the guard, route it, and bind or give back any in-flight
 * holds by what the handler answered.
 */
export async function startKitServer<C extends KitRequest>(api: SandboxDeclaration<C>, options: KitServerOptions = {}): Promise<KitServer> {
  const faults = new FaultQueue();
  const byPath = new Map<string, number>();
  const byRoute = new Map<string, number>();
  let served = 0;
  let throttled = 0;
  let url = '';
  const textStrings = api.textStrings ?? true;
  const normalize = api.normalizePath ?? ((p: string) => p.replace(/\/+$/, '') || '/');
  const apiHeaders = api.apiHeaders ?? {};
  const errorReply = (err: unknown): Reply =>
    err instanceof HttpError ? { status: err.status, body: err.body, headers: err.headers } : { status: 500, body: api.internalError(err as Error) };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const parsed = new URL(req.url ?? '/', url || 'http://127.0.0.1');
    const base: KitRequest = { req, res, method: req.method ?? 'GET', url: parsed, path: normalize(parsed.pathname), query: parsed.searchParams, admission: null };
    let ctx: C;
    try {
      const made = api.context(base);
      ctx = made instanceof Promise ? await made : made;
    } catch (err) {
      return send(res, errorReply(err), textStrings);
    }
    const { method, path } = ctx;
    if (api.control && path.startsWith(api.control.prefix)) {
      let reply: Reply;
      try {
        reply = await api.control.handle(ctx);
      } catch (err) {
        reply = errorReply(err);
      }
      return send(res, reply, textStrings);
    }
    const outside = api.outside?.(ctx);
    if (outside) return send(res, outside instanceof Promise ? await outside : outside, textStrings);

    served += 1;
    const pathKey = `${method} ${foldIds(path)}`;
    byPath.set(pathKey, (byPath.get(pathKey) ?? 0) + 1);
    const fault = faults.take();
    if (fault) {
      if (fault.status === 429) throttled += 1;
      return send(res, { status: fault.status, body: api.faultBody(fault.status, ctx), headers: fault.retryAfter ? { 'retry-after': fault.retryAfter } : {} }, textStrings, apiHeaders);
    }
    const limiter = api.limiter();
    if (limiter && !api.unlimited?.(ctx)) {
      const admission = limiter.admit({ method, path, query: ctx.query });
      if (!admission.ok) {
        throttled += 1;
        return send(res, { status: 429, body: admission.refusal.body, headers: { ...admission.headers, 'retry-after': String(admission.retryAfterSeconds) } }, textStrings, apiHeaders);
      }
      ctx.admission = admission;
    }
    // A hold in a `concurrent` bucket lasts from the answer that started a job until that job is seen finished.
    const settle = (reply: Reply | null) => {
      const holds = ctx.admission?.ok ? ctx.admission.holds : [];
      const job = reply && api.jobs ? api.jobs.started(reply) : undefined;
      for (const hold of holds) {
        if (reply && (reply.status ?? 200) < 300 && job) hold.bind(job);
        else hold.cancel();
      }
      if (reply && api.jobs && limiter) {
        for (const id of api.jobs.finished(reply)) for (const b of limiter.table.buckets) if (b.kind === 'concurrent') limiter.release(b.name, id);
      }
    };
    const denied = api.guard?.(ctx);
    if (denied) {
      settle(null);
      return send(res, denied, textStrings, apiHeaders);
    }
    const extra = ctx.admission?.ok ? { ...apiHeaders, ...ctx.admission.headers } : apiHeaders;
    const found = api.routes.match(method, path);
    if (!found.route) {
      settle(null);
      return send(res, api.noRoute(ctx, found.allowed), textStrings, extra);
    }
    byRoute.set(found.route.key, (byRoute.get(found.route.key) ?? 0) + 1);
    let reply: Reply;
    try {
      const answer = found.route.handler(ctx, found.match);
      reply = answer instanceof Promise ? await answer : answer;
      settle(reply);
    } catch (err) {
      settle(null);
      // A failed handler's pagination link would point past an error.
      res.removeHeader('link');
      reply = errorReply(err);
    }
    send(res, reply, textStrings, extra);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) send(res, { status: 500, body: api.internalError(err as Error) }, textStrings);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 35_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;
  return {
    url,
    faults,
    served: () => served,
    servedByPath: () => byPath,
    servedByRoute: () => byRoute,
    rateLimited: () => throttled,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
