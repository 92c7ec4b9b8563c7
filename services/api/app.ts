import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { RunInfo } from '../ledger/ledger.ts';
import { redactor } from '../../schemas/redact.ts';
import { toCsv } from './csv.ts';
import { runHistory } from './run-history.ts';
import { lagOf, readiness, reconciliation, type Reconciliation } from './cutover.ts';
import { ApiError, errorResponse } from './errors.ts';
import { EVENT_STREAM_DEFAULTS, EventStreamSlots, EventStreamWriter, type EventStreamLimits } from './event-stream.ts';
import { collectMetrics, renderPrometheus } from './metrics.ts';
import { MigrationRegistry, type MigrationEvent, type MigrationHandle } from './migrations.ts';
import { PLANNED_RUN_KINDS, RUN_KINDS } from '../run/run-kinds.ts';
import { loadSavedQueries } from './saved-queries.ts';
import { acceptFailures, failuresWithAcceptances, withdrawAcceptances } from '../reconciler/acceptance.ts';
import { ENTITIES, type EntityName } from '../../schemas/canonical.ts';
import { ROLES, roleAtLeast, TokenStore, type Role, type TokenInfo } from './tokens.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ApiOptions {
  /** The API's own state: tokens, migrations created through it. */
  stateDir: string;
  /** Migration files served from the start. */
  configFiles?: string[];
  /** Ledger on this ClickHouse server for the migration files given (as `--clickhouse-url` does for `hdm migrate`). */
  clickhouseUrl?: string;
  /** Environment the migrations read their credentials from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The dashboard's files. Default `<repo>/dashboards`. */
  dashboardDir?: string;
  /** Fastify's request log. Default false. */
  logger?: boolean;
  /** Limits on server-sent event streams (see EVENT_STREAM_DEFAULTS). */
  eventStreams?: EventStreamLimits;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role a route needs; `public` routes serve the dashboard's static files (they hold no data). */
    role?: Role | 'public';
  }
  interface FastifyRequest {
    token?: TokenInfo;
  }
}

const migrationName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'a migration name');
const nameParams = z.object({ name: migrationName }).strict();

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ApiError(
      400,
      'BAD_REQUEST',
      `invalid ${where}: ${result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`).join('; ')}`,
      result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  return result.data;
}

// A Map: a plain object would answer `constructor`, `__proto__` or `toString` from its prototype.
const DASHBOARD_FILES: ReadonlyMap<string, string> = new Map([
  ['index.html', 'text/html; charset=utf-8'],
  ['dashboard.js', 'text/javascript; charset=utf-8'],
  ['dashboard.css', 'text/css; charset=utf-8'],
]);

/** The HTTP API and the dashboard it serves. `app.close()` stops every run and closes every runtime. */
export interface Api {
  app: FastifyInstance;
  registry: MigrationRegistry;
  tokens: TokenStore;
}

export function buildApi(options: ApiOptions): Api {
  const tokens = new TokenStore(options.stateDir);
  const summaryOf = async (handle: MigrationHandle) => {
    const runtime = await handle.open();
    const recon = await reconciliation(runtime.ledger);
    const runs = await runtime.ledger.runs();
    const history = (await runHistory(runtime.ledger, handle.jobs)).slice(-20);
    return { reconciliation: recon, readiness: readiness(runs, recon, handle.config.dashboard), runs: runs.slice(-20), history };
  };
  const registry = new MigrationRegistry({ stateDir: options.stateDir, env: options.env, summarize: summaryOf });
  for (const file of options.configFiles ?? []) registry.addFile(file, options.clickhouseUrl);
  registry.loadSaved();
  const dashboardDir = options.dashboardDir ?? join(repoRoot, 'dashboards');
  const queriesDir = join(dashboardDir, 'queries');

  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 1024 * 1024 });
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (request, reply) => {
    const need = request.routeOptions.config?.role ?? 'viewer';
    if (need === 'public') return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const token = m ? tokens.verify(m[1]) : null;
    if (!token) {
      reply.header('www-authenticate', 'Bearer');
      throw new ApiError(401, 'UNAUTHORIZED', 'unauthorized');
    }
    if (!roleAtLeast(token.role, need)) throw new ApiError(403, 'FORBIDDEN', 'forbidden');
    request.token = token;
  });

  app.setErrorHandler((err, request, reply) => {
    const { status, body } = errorResponse(err);
    if (status >= 500) request.log.error({ code: body.error.code, err: redactor.redact((err as Error).message ?? String(err)) }, 'request failed');
    void reply.status(status).header('cache-control', 'no-store').send(body);
  });
  app.setNotFoundHandler({ preHandler: async () => undefined }, async () => {
    throw new ApiError(404, 'NOT_FOUND', 'no such route');
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    // The last line before the wire: failures, runs and query results all carry text from platforms.
    return typeof payload === 'string' ? redactor.redact(payload) : payload;
  });

  // --- dashboard (static, no data) ---
  const sendDashboardFile = (file: string, reply: FastifyReply) => {
    const type = DASHBOARD_FILES.get(file);
    if (!type) throw new ApiError(404, 'NOT_FOUND', 'no such file');
    return reply
      .type(type)
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
      .header('cache-control', 'no-cache')
      .send(readFileSync(join(dashboardDir, file)));
  };
  app.get('/', { config: { role: 'public' } }, async (_req, reply) => reply.redirect('/dashboard/'));
  app.get('/favicon.ico', { config: { role: 'public' } }, async (_req, reply) => reply.status(204).send());
  app.get('/dashboard', { config: { role: 'public' } }, async (_req, reply) => reply.redirect('/dashboard/'));
  app.get('/dashboard/', { config: { role: 'public' } }, async (_req, reply) => sendDashboardFile('index.html', reply));
  app.get('/dashboard/:file', { config: { role: 'public' } }, async (req, reply) => sendDashboardFile((req.params as { file: string }).file, reply));

  // --- who am I ---
  app.get('/api/me', async (req) => ({ id: req.token!.id, role: req.token!.role }));

  // --- migrations ---
  const describe = (h: MigrationHandle) => ({
    name: h.name,
    origin: h.origin.startsWith('file:') ? 'file' : 'api',
    source: { platform: h.config.source.platform, url: h.config.source.url },
    target: { platform: h.config.target.platform, url: h.config.target.url },
    entities: h.config.entities,
    ledger: h.config.ledger.clickhouseUrl ? 'clickhouse' : 'embedded',
    dashboard: h.config.dashboard,
    activeJob: h.active?.job ?? null,
  });
  app.get('/api/migrations', async () => ({ migrations: registry.list().map(describe) }));

  const createBody = z.union([
    z.string().min(1),
    z.object({ yaml: z.string().min(1) }).strict(),
    z.object({ path: z.string().regex(/\.ya?ml$/, 'a path ending in .yaml or .yml') }).strict(),
  ]);
  app.post('/api/migrations', { config: { role: 'admin' } }, async (req, reply) => {
    const body = parse(createBody, req.body, 'body: send the migration file as YAML (application/yaml), or {"yaml": "..."} or {"path": "m.yaml"}');
    const handle = typeof body === 'string' ? registry.createFromYaml(body) : 'yaml' in body ? registry.createFromYaml(body.yaml) : registry.createFromFile(resolve(body.path));
    return reply.status(201).send(describe(handle));
  });

  const handleOf = (req: FastifyRequest) => registry.get(parse(nameParams, req.params, 'path').name);
  app.get('/api/migrations/:name', async (req) => {
    const h = handleOf(req);
    return { ...describe(h), jobs: h.jobs };
  });

  app.post('/api/migrations/:name/connections/test', { config: { role: 'operator' } }, async (req) => {
    const h = handleOf(req);
    const runtime = await h.open();
    const check = async (side: 'source' | 'target') => {
      const connector = runtime[side];
      const started = Date.now();
      try {
        await connector.check();
        return { side, platform: connector.platform, ok: true, ms: Date.now() - started };
      } catch (err) {
        const { body } = errorResponse(err);
        return { side, platform: connector.platform, ok: false, ms: Date.now() - started, error: body.error };
      }
    };
    const [source, target] = await Promise.all([check('source'), check('target')]);
    return { ok: source.ok && target.ok, source, target };
  });

  // --- runs ---
  const runBody = z
    .object({
      kind: z.string().regex(/^[a-z][a-z-]{0,31}$/, 'a run kind such as full or delta'),
      options: z.record(z.string(), z.unknown()).optional(),
    })
    .strict();
  app.get('/api/run-kinds', async () => ({
    available: [...RUN_KINDS.values()].map((k) => ({ kind: k.kind, description: k.description })),
    planned: PLANNED_RUN_KINDS,
  }));
  app.post('/api/migrations/:name/runs', { config: { role: 'operator' } }, async (req, reply) => {
    const h = handleOf(req);
    const body = parse(runBody, req.body, 'body');
    const job = await h.start(body.kind, body.options, { tokenId: req.token!.id, label: req.token!.label ?? '', role: req.token!.role });
    return reply.status(202).send({ job });
  });
  app.get('/api/migrations/:name/runs', async (req) => {
    const h = handleOf(req);
    const runtime = await h.open();
    return { runs: await runtime.ledger.runs(), jobs: h.jobs };
  });
  // Every run, verifications included, with duration, counts and who started it (when the API did).
  app.get('/api/migrations/:name/runs/history', async (req) => {
    const h = handleOf(req);
    const runtime = await h.open();
    return { runs: await runHistory(runtime.ledger, h.jobs) };
  });
  app.delete('/api/migrations/:name/runs/active', { config: { role: 'operator' } }, async (req) => {
    const h = handleOf(req);
    const job = await h.stop();
    if (!job) throw new ApiError(404, 'NOT_FOUND', 'no run is in progress');
    return { job };
  });

  // --- health and progress of the current run ---
  app.get('/api/migrations/:name/health', async (req) => handleOf(req).healthView());
  app.get('/api/migrations/:name/progress', async (req) => handleOf(req).progressView());

  // --- reconciliation, readiness, failures ---
  app.get('/api/migrations/:name/summary', async (req) => summaryOf(handleOf(req)));

  const failuresQuery = z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(100) }).strict();
  app.get('/api/migrations/:name/failures', async (req) => {
    const h = handleOf(req);
    const { limit } = parse(failuresQuery, req.query, 'query');
    const runtime = await h.open();
    return { failures: await failuresWithAcceptances(runtime.ledger, limit) };
  });

  // An operator accepts named failures with a reason; the token's label (else its id) says who.
  const recordsBody = z.array(z.object({ entity: z.enum(ENTITIES), sourceId: z.string().min(1).max(200) }).strict()).min(1).max(1000);
  const acceptBody = z.object({ records: recordsBody, reason: z.string().trim().min(3, 'a reason of at least 3 characters').max(1000) }).strict();
  const who = (req: FastifyRequest) => (req.token!.label ? `${req.token!.label} (token ${req.token!.id})` : `token ${req.token!.id}`);
  app.post('/api/migrations/:name/failures/accept', { config: { role: 'operator' } }, async (req) => {
    const h = handleOf(req);
    const body = parse(acceptBody, req.body, 'body');
    const runtime = await h.open();
    const accepted = await acceptFailures(runtime.ledger, body.records, { by: who(req), reason: body.reason });
    h.emit({ type: 'summary', data: await summaryOf(h) });
    return { accepted };
  });
  app.post('/api/migrations/:name/failures/withdraw', { config: { role: 'operator' } }, async (req) => {
    const h = handleOf(req);
    const body = parse(z.object({ records: recordsBody }).strict(), req.body, 'body');
    const runtime = await h.open();
    const withdrawn = await withdrawAcceptances(runtime.ledger, body.records, who(req));
    h.emit({ type: 'summary', data: await summaryOf(h) });
    return { withdrawn };
  });

  // Drill-down: the same lists as the saved queries records-<status>.sql, as JSON grouped by reason, or CSV.
  const recordsParams = z.object({ name: migrationName, status: z.enum(['missing', 'mismatched', 'failed', 'filtered']) }).strict();
  app.get('/api/migrations/:name/records/:status', async (req, reply) => {
    const p = parse(recordsParams, req.params, 'path');
    const { format } = parse(z.object({ format: z.enum(['json', 'csv']).default('json') }).strict(), req.query, 'query');
    const h = registry.get(p.name);
    const saved = loadSavedQueries(queriesDir).find((q) => q.id === `records-${p.status}`);
    if (!saved) throw new ApiError(404, 'NOT_FOUND', `no saved query records-${p.status}`);
    const runtime = await h.open();
    // Both records' links, as the platforms' own pages; a link that cannot be made stays null.
    const link = (side: 'source' | 'target', entity: string, id: string | null) => {
      if (!id) return null;
      try {
        return runtime[side].recordUrl(entity as EntityName, id);
      } catch {
        return null;
      }
    };
    // A failed record carries the acceptance in force on it, so the page can say who accepted it and why.
    const acceptances = new Map(p.status === 'failed' ? (await runtime.ledger.acceptances()).map((a) => [`${a.entity}:${a.sourceId}`, { by: a.acceptedBy, reason: a.reason, at: a.acceptedAt }]) : []);
    const rows = (await runtime.ledger.query(saved.sql, { readonly: true })).map((r) => {
      const entity = String(r.entity);
      const sourceId = String(r.source_id);
      const targetId = r.target_id ? String(r.target_id) : null;
      return {
        entity,
        sourceId,
        targetId,
        reason: String(r.reason),
        detail: String(r.detail ?? ''),
        attempts: Number(r.attempts ?? 0),
        lastAttemptAt: r.last_attempt_at ? new Date(`${String(r.last_attempt_at).replace(' ', 'T')}Z`).toISOString() : null,
        sourceUrl: link('source', entity, sourceId),
        targetUrl: link('target', entity, targetId),
        accepted: acceptances.get(`${entity}:${sourceId}`) ?? null,
      };
    });
    if (format === 'csv') {
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${h.name}-${p.status}-${stamp}.csv"`)
        .send(toCsv(['entity', 'sourceId', 'targetId', 'reason', 'detail', 'attempts', 'lastAttemptAt', 'sourceUrl', 'targetUrl'], rows));
    }
    const groups = new Map<string, { reason: string; entity: string; records: number }>();
    for (const r of rows) {
      const key = `${r.entity}\u0000${r.reason}`;
      const g = groups.get(key) ?? { reason: r.reason, entity: r.entity, records: 0 };
      g.records += 1;
      groups.set(key, g);
    }
    return { status: p.status, query: saved.id, byReason: [...groups.values()].sort((a, b) => b.records - a.records), records: rows };
  });

  // Retries failed records (all, or those named) as a repair run: operators only.
  app.post('/api/migrations/:name/failures/retry', { config: { role: 'operator' } }, async (req, reply) => {
    const h = handleOf(req);
    const body = parse(z.object({ records: recordsBody.optional() }).strict(), req.body ?? {}, 'body');
    const job = await h.start('repair', body.records ? { records: body.records } : {}, { tokenId: req.token!.id, label: req.token!.label ?? '', role: req.token!.role });
    return reply.status(202).send({ job });
  });

  app.get('/api/migrations/:name/dashboard', async (req) => {
    const h = handleOf(req);
    const runtime = await h.open();
    const runs = await runtime.ledger.runs();
    const recon = await reconciliation(runtime.ledger);
    return {
      migration: describe(h),
      now: new Date().toISOString(),
      reconciliation: recon,
      readiness: readiness(runs, recon, h.config.dashboard),
      failures: await failuresWithAcceptances(runtime.ledger, 20),
      runs: runs.slice(-20),
      history: (await runHistory(runtime.ledger, h.jobs)).slice(-20),
      lag: runs.filter((r) => r.kind === 'delta' && r.status === 'succeeded').slice(-200).map((r) => ({ at: r.finishedAt ?? r.startedAt, ...(lagOf(r) ?? { p50: 0, p95: 0 }) })),
      throughput: h.progress.history(),
      progress: h.progress.snapshot(),
      health: h.healthView(),
      runProgress: h.progressView(),
      job: h.active?.job ?? h.jobs[0] ?? null,
    };
  });

  // --- reports ---
  const reportQuery = z
    .object({
      format: z.enum(['json', 'csv']).default('json'),
      part: z.enum(['entities', 'failures', 'runs']).default('entities'),
      limit: z.coerce.number().int().min(1).max(1_000_000).default(100_000),
    })
    .strict();
  app.get('/api/migrations/:name/report', async (req, reply) => {
    const h = handleOf(req);
    const q = parse(reportQuery, req.query, 'query');
    const runtime = await h.open();
    const runs = await runtime.ledger.runs();
    const recon: Reconciliation = await reconciliation(runtime.ledger);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    if (q.format === 'json') {
      const failures = await failuresWithAcceptances(runtime.ledger, q.limit);
      return reply
        .header('content-disposition', `attachment; filename="${h.name}-report-${stamp}.json"`)
        .send({ migration: h.name, generatedAt: new Date().toISOString(), readiness: readiness(runs, recon, h.config.dashboard), ...recon, failures, runs });
    }
    let csv: string;
    if (q.part === 'entities') {
      csv = toCsv(['entity', 'source', 'loaded', 'missing', 'mismatched', 'duplicates', 'failed', 'accepted', 'filtered', 'notAttempted'], recon.entities as unknown as Record<string, unknown>[]);
    } else if (q.part === 'failures') {
      csv = toCsv(['entity', 'sourceId', 'errorCode', 'errorMessage', 'attempts', 'lastAttemptAt'], (await runtime.ledger.failures(q.limit)) as unknown as Record<string, unknown>[]);
    } else {
      csv = toCsv(['runId', 'kind', 'status', 'startedAt', 'finishedAt', 'cutoff'], runs as unknown as Record<string, unknown>[]);
    }
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${h.name}-${q.part}-${stamp}.csv"`)
      .send(csv);
  });

  // --- saved queries over the ledger (read-only) ---
  app.get('/api/queries', async () => ({ queries: loadSavedQueries(queriesDir) }));
  const queryParams = z.object({ name: migrationName, query: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a saved query id') }).strict();
  app.post('/api/migrations/:name/queries/:query', async (req) => {
    const p = parse(queryParams, req.params, 'path');
    const h = registry.get(p.name);
    const saved = loadSavedQueries(queriesDir).find((q) => q.id === p.query);
    if (!saved) throw new ApiError(404, 'NOT_FOUND', `no saved query "${p.query}"`);
    const runtime = await h.open();
    const started = Date.now();
    let rows: Record<string, unknown>[];
    try {
      rows = await runtime.ledger.query(saved.sql, { readonly: true });
    } catch (err) {
      throw new ApiError(400, 'QUERY_FAILED', `saved query ${saved.id} failed: ${(err as Error).message.split('\n')[0].slice(0, 300)}`);
    }
    return { query: saved.id, ms: Date.now() - started, rows };
  });

  // --- server-sent events ---
  // Open streams end when the server closes, or they would hold it open.
  const streams = new Set<import('node:http').ServerResponse>();
  app.addHook('preClose', async () => {
    for (const raw of streams) raw.end();
  });
  const streamLimits = { ...EVENT_STREAM_DEFAULTS, ...Object.fromEntries(Object.entries(options.eventStreams ?? {}).filter(([, v]) => v !== undefined)) };
  const slots = new EventStreamSlots(streamLimits);
  app.get('/api/migrations/:name/events', async (req, reply) => {
    const h = handleOf(req);
    let release: () => void;
    try {
      release = slots.acquire(req.token!.id);
    } catch (err) {
      reply.header('retry-after', '10');
      throw err;
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    const stream = new EventStreamWriter(raw, streamLimits.stallTimeoutMs);
    const send = (event: MigrationEvent) => stream.send(event);
    stream.line('retry: 3000');
    send({ type: 'progress', data: { ...h.progress.snapshot(), job: h.active?.job ?? h.jobs[0] ?? null, sample: h.progress.samples.at(-1) ?? { at: Date.now(), perSecond: 0 } } });
    h.events.on('event', send);
    const heartbeat = setInterval(() => stream.comment('keep-alive'), streamLimits.heartbeatMs);
    const end = () => {
      clearInterval(heartbeat);
      h.events.off('event', send);
      stream.close();
      streams.delete(raw);
      release();
    };
    req.raw.on('close', end);
    raw.on('close', end);
    streams.add(raw);
  });

  // --- metrics ---
  app.get('/metrics', async (_req, reply) => {
    const runs = new Map<string, RunInfo[]>();
    for (const h of registry.list()) {
      if (h.current) runs.set(h.name, await h.current.ledger.runs().catch(() => []));
    }
    const streamsOpen = renderPrometheus([{ name: 'hdm_api_event_streams', type: 'gauge', help: 'Server-sent event streams open', samples: [{ labels: {}, value: slots.open }] }]);
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(collectMetrics(registry.list(), runs) + streamsOpen);
  });

  // --- tokens ---
  const tokenBody = z.object({ role: z.enum(ROLES), label: z.string().max(100).default('') }).strict();
  app.get('/api/tokens', { config: { role: 'admin' } }, async () => ({ tokens: tokens.list() }));
  app.post('/api/tokens', { config: { role: 'admin' } }, async (req, reply) => {
    const body = parse(tokenBody, req.body, 'body');
    const created = tokens.create(body.role, body.label);
    return reply.status(201).header('cache-control', 'no-store').send({ token: created.token, ...created.info });
  });
  app.delete('/api/tokens/:id', { config: { role: 'admin' } }, async (req) => {
    const { id } = parse(z.object({ id: z.string().regex(/^[0-9a-f]{12}$/, 'a token id') }).strict(), req.params, 'path');
    if (!tokens.revoke(id)) throw new ApiError(404, 'NOT_FOUND', `no token with id ${id}`);
    return { revoked: id };
  });

  app.addHook('onClose', async () => {
    await registry.close();
  });
  return { app, registry, tokens };
}
