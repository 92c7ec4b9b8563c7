import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startFreshdeskSandbox, type FreshdeskSandbox } from '../connectors/freshdesk/sandbox/server.ts';
import { startZendeskSandbox, type ZendeskSandbox } from '../connectors/zendesk/sandbox/server.ts';
import { budgetFigures, requestsPerRecord, type BucketCount, type BudgetFigures } from './budget.ts';
import { benchArgs, hdm, machineLine, withSandboxes } from './common.ts';

type Sandbox = ZendeskSandbox | FreshdeskSandbox;

async function start(platform: string, tickets: number, seed: number): Promise<Sandbox> {
  // The plan's own limits: no --rpm, no unthrottled exports.
  if (platform === 'zendesk') return startZendeskSandbox({ tickets, seed, plan: 'enterprise' });
  if (platform === 'freshdesk') {
    const s = await startFreshdeskSandbox({ tickets, seed, plan: 'enterprise' });
    await s.ready;
    return s;
  }
  throw new Error(`the budget bench runs zendesk and freshdesk, not ${platform}`);
}

const byRoute = (s: Sandbox): Record<string, number> => ('requestsByRoute' in s ? s.requestsByRoute() : Object.fromEntries(s.requestLog()));

const minus = (after: Record<string, BucketCount>, before: Record<string, BucketCount>): Record<string, BucketCount> =>
  Object.fromEntries(
    Object.entries(after).map(([k, a]) => {
      const b = before[k] ?? { admitted: 0, refused: 0, credits: 0 };
      return [k, { admitted: a.admitted - b.admitted, refused: a.refused - b.refused, credits: a.credits - b.credits }];
    }),
  );

const minusRoutes = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)] as const).filter(([, v]) => v > 0));

export interface BudgetRun {
  direction: string;
  /** `source.comments` of a Zendesk source, when the run set it. */
  zendeskComments?: string;
  /** `options.order` of the run. */
  order: 'entity' | 'express';
  /** Express order: seconds from the run's start until its working set was complete (open, pending and recent tickets on the target); null otherwise. */
  workingSetSeconds: number | null;
  tickets: number;
  canonicalRecords: number;
  /** Seconds the pipeline ran, as `hdm migrate --json` reports them. */
  migrateSeconds: number;
  /** Seconds from spawning `hdm migrate` to its exit (start-up and wiring included). */
  processSeconds: number;
  figures: BudgetFigures;
  estimateSeconds: number;
  /** `estimate / wall − 1`. */
  estimateError: number;
  /** What `hdm estimate` projects per bucket (requests, and credits where the bucket counts them), beside the measured ones. */
  estimateBuckets: { side: 'source' | 'target'; bucket: string; requests: number; used: number }[];
  /** The estimate's share of tickets read with a request of their own (Zendesk `source.comments: events`), or null. */
  estimatePerTicketReads: { needed: number; sampledTickets: number; share: number } | null;
  routes: { side: 'source' | 'target'; route: string; requests: number; perRecord: number }[];
}

async function runOne(from: string, to: string, tickets: number, concurrency: number, zendeskComments: string | undefined, order: BudgetRun['order']): Promise<BudgetRun> {
  return withSandboxes(Promise.all([start(from, tickets, 1), start(to, 0, 2)]), 'hdm-budget-bench-', async (source, target, dir) => {
    const configFile = join(dir, 'migration.yaml');
    writeFileSync(
      configFile,
      stringify({
        name: `budget-${from}-${to}-${tickets}`,
        source: { platform: from, url: source.url, concurrency, plan: 'enterprise', ...(from === 'zendesk' && zendeskComments ? { comments: zendeskComments } : {}) },
        target: { platform: to, url: target.url, concurrency, plan: 'enterprise' },
        ...(order === 'express' ? { options: { order } } : {}),
        stateDir: join(dir, 'state'),
      }),
    );
    const env = { ...process.env, ...source.env, ...target.env };
    const before = { source: source.limitStats(), target: target.limitStats(), sourceRoutes: byRoute(source), targetRoutes: byRoute(target) };
    const migrate = await hdm(['migrate', '--config', configFile, '--json', '--no-progress', '--no-verify'], env);
    if (migrate.code !== 0) throw new Error(`migrate exited ${migrate.code}`);
    const result = JSON.parse(migrate.stdout) as { seconds: number; canonicalRecords: number; run: { startedAt: string; summary: { workingSet?: { completedAt?: string | null } } } };
    const workingSetDone = result.run.summary.workingSet?.completedAt;
    const after = { source: source.limitStats(), target: target.limitStats(), sourceRoutes: byRoute(source), targetRoutes: byRoute(target) };
    const figures = budgetFigures(
      [
        { side: 'source', table: source.limits, stats: minus(after.source, before.source) },
        { side: 'target', table: target.limits, stats: minus(after.target, before.target) },
      ],
      result.seconds,
    );
    // The estimate reads the source only (counts and a sample); run after the migration so it does not spend the run's budget.
    const estimate = await hdm(['estimate', '--config', configFile, '--json', '--no-progress'], env);
    if (estimate.code !== 0) throw new Error(`estimate exited ${estimate.code}`);
    const projected = JSON.parse(estimate.stdout) as {
      totalSeconds: number;
      buckets: BudgetRun['estimateBuckets'];
      perTicketReads?: BudgetRun['estimatePerTicketReads'];
    };
    const estimateSeconds = projected.totalSeconds;
    const routes = [
      ...requestsPerRecord(minusRoutes(after.sourceRoutes, before.sourceRoutes), result.canonicalRecords).map((r) => ({ side: 'source' as const, ...r })),
      ...requestsPerRecord(minusRoutes(after.targetRoutes, before.targetRoutes), result.canonicalRecords).map((r) => ({ side: 'target' as const, ...r })),
    ];
    return {
      direction: `${from} → ${to}`,
      ...(from === 'zendesk' && zendeskComments ? { zendeskComments } : {}),
      order,
      workingSetSeconds: workingSetDone ? (Date.parse(workingSetDone) - Date.parse(result.run.startedAt)) / 1000 : null,
      tickets,
      canonicalRecords: result.canonicalRecords,
      migrateSeconds: result.seconds,
      processSeconds: migrate.seconds,
      figures,
      estimateSeconds,
      estimateError: estimateSeconds / result.seconds - 1,
      estimateBuckets: projected.buckets.map(({ side, bucket, requests, used }) => ({ side, bucket, requests, used })),
      estimatePerTicketReads: projected.perTicketReads ? { needed: projected.perTicketReads.needed, sampledTickets: projected.perTicketReads.sampledTickets, share: projected.perTicketReads.share } : null,
      routes,
    };
  });
}

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
const secs = (x: number | null) => (x === null ? '—' : x.toFixed(1));

/** The run as printed tables: buckets, bound and aims, requests per record by route. */
export function formatBudgetRun(r: BudgetRun): string {
  const f = r.figures;
  const lines = [`${r.direction}${r.zendeskComments ? ` (comments: ${r.zendeskComments})` : ''}${r.order === 'express' ? ' (express order)' : ''}: ${r.tickets} tickets, ${r.canonicalRecords} canonical records, wall ${r.migrateSeconds.toFixed(1)} s (process ${r.processSeconds.toFixed(1)} s)`, ''];
  if (r.order === 'express') lines.push(`working set complete after ${secs(r.workingSetSeconds)} s (${pct(r.workingSetSeconds === null ? null : r.workingSetSeconds / r.migrateSeconds)} of the wall)`, '');
  const head = ['side', 'bucket', 'limit', 'requests', 'used', '429s', 'steady s', 'windows s', 'utilization', 'estimate'];
  const projected = (side: string, bucket: string) => r.estimateBuckets.find((e) => e.side === side && e.bucket === bucket);
  const rows = f.buckets
    .filter((b) => b.requests > 0 || b.rateLimited > 0)
    .map((b) => [
      `${b.side} ${b.platform}`,
      b.bucket + (`${b.side}/${b.bucket}` === f.binding ? ' *' : ''),
      b.kind === 'concurrent' ? `${b.limit} in flight` : `${b.limit}/${b.windowSeconds / 60} min${b.perKey ? ' per id' : ''}`,
      String(b.requests),
      String(b.used),
      String(b.rateLimited),
      secs(b.steadySeconds),
      secs(b.boundSeconds),
      pct(b.utilization),
      String(Math.round(projected(b.side, b.bucket)?.requests ?? 0)),
    ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  for (const row of [head, ...rows]) lines.push(row.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  const aim = (ok: boolean) => (ok ? 'met' : 'missed');
  lines.push(
    '',
    `bound ${f.boundSeconds.toFixed(1)} s by whole windows, ${f.steadySeconds.toFixed(1)} s at a steady rate (binding: ${f.binding ?? 'none'}) · wall/bound ${f.wallOverBound?.toFixed(3) ?? '—'} (aim ≤ 1.05: ${aim((f.wallOverBound ?? Infinity) <= 1.05)})`,
    `binding bucket used ${pct(f.bindingUtilization)} (aim ≥ 95%: ${aim((f.bindingUtilization ?? 0) >= 0.95)}) · 429s ${f.rateLimited} of ${f.requests} requests = ${pct(f.rateLimitedShare)} (aim ≤ 1%: ${aim(f.rateLimitedShare <= 0.01)})`,
    `hdm estimate ${r.estimateSeconds.toFixed(1)} s vs wall ${r.migrateSeconds.toFixed(1)} s: ${r.estimateError >= 0 ? '+' : ''}${(r.estimateError * 100).toFixed(1)}% (aim ±10%: ${aim(Math.abs(r.estimateError) <= 0.1)})`,
    ...(r.estimatePerTicketReads
      ? [`hdm estimate: ${r.estimatePerTicketReads.needed} of ${r.estimatePerTicketReads.sampledTickets} sampled tickets read with a request of their own (${pct(r.estimatePerTicketReads.share)})`]
      : []),
    '',
    'requests per canonical record by route:',
  );
  for (const route of r.routes) lines.push(`  ${route.side.padEnd(6)} ${route.route.padEnd(60)} ${String(route.requests).padStart(7)}  ${route.perRecord.toFixed(3)}`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const values = benchArgs(
    argv,
    {
      tickets: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '16' },
      'zendesk-comments': { type: 'string' },
      order: { type: 'string', default: 'entity' },
      reverse: { type: 'boolean', default: false },
      both: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    'npm run bench -- budget [--tickets 2000] [--reverse | --both] [--concurrency 16] [--zendesk-comments per-ticket|events|auto] [--order entity|express] [--json]\n' +
      'A full migration between sandboxes at Enterprise limits (Zendesk → Freshdesk; --reverse Freshdesk → Zendesk; --both each),\n' +
      'with per bucket requests, utilization and 429s from the sandboxes\' own counters, the lower bound on wall time, and\n' +
      "`hdm estimate`'s projection against the measured wall. Takes minutes: the plans' limits set the pace.\n" +
      '--zendesk-comments sets source.comments for a Zendesk source (default: the option left out, i.e. per-ticket).\n' +
      '--order express runs options.order: express and reports when its working set was complete (default entity).\n',
  );
  if (!values) return;
  const tickets = Number(values.tickets);
  const zendeskComments = values['zendesk-comments'];
  if (zendeskComments !== undefined && !['per-ticket', 'events', 'auto'].includes(zendeskComments)) {
    throw new Error(`--zendesk-comments takes per-ticket, events or auto, got ${zendeskComments}`);
  }
  const order = values.order;
  if (order !== 'entity' && order !== 'express') throw new Error(`--order takes entity or express, got ${order}`);
  const concurrency = Number(values.concurrency);
  const directions: [string, string][] = values.both
    ? [
        ['zendesk', 'freshdesk'],
        ['freshdesk', 'zendesk'],
      ]
    : values.reverse
      ? [['freshdesk', 'zendesk']]
      : [['zendesk', 'freshdesk']];
  const machine = machineLine();
  const runs: BudgetRun[] = [];
  for (const [from, to] of directions) {
    process.stderr.write(`bench budget: ${tickets} tickets ${from} → ${to} at Enterprise limits…\n`);
    const run = await runOne(from, to, tickets, concurrency, zendeskComments, order);
    runs.push(run);
    if (!values.json) process.stdout.write(`${formatBudgetRun(run)}\n\n`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ machine, runs }, null, 2)}\n`);
  else process.stdout.write(`machine: ${machine}\n`);
}
