import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { startSandboxProcess, type SandboxProcess } from '../services/cli/sandbox-process.ts';
import { appendReport, benchArgs, HDM, hdm, machineLine, percentile , withSandboxes } from './common.ts';

interface LaneResult {
  fastLane: boolean;
  changes: number;
  loaded: number;
  p50: number;
  p95: number;
  max: number;
  passes: number;
  listTickets: { admitted: number; refused: number };
  exportRefused: number;
  /** Per pass that loaded a change first: its number, the changes, their worst lag, the streams it deferred. */
  byPass: { pass: number; changes: number; max: number; deferred: string[] }[];
}

async function limitStats(source: SandboxProcess): Promise<Record<string, { admitted: number; refused: number }>> {
  const res = await fetch(`${source.url}/__sandbox/state`);
  return ((await res.json()) as { limit_stats: Record<string, { admitted: number; refused: number }> }).limit_stats;
}

/** IDs of tickets the source lets agents change (closed ones refuse, as on Zendesk). */
async function openTickets(source: SandboxProcess, want: number): Promise<number[]> {
  const auth = `Basic ${Buffer.from(`${source.credentials.email}/token:${source.credentials.apiToken}`).toString('base64')}`;
  const body = (await (await fetch(`${source.url}/api/v2/tickets.json?per_page=100`, { headers: { authorization: auth } })).json()) as { tickets: { id: number; status: string }[] };
  return body.tickets.filter((t) => t.status !== 'closed').slice(0, want).map((t) => t.id);
}

/**
 * One source (the Zendesk sandbox with its documented one-minute export exclusion, at its plan's limits),
 * a full run, then `hdm delta --follow` while a reply is written to a different ticket every
 * `seconds / changes` seconds. A change's lag runs from the moment the source answered the write to the
 * load of that ticket in the ledger.
 */
async function runLane(fastLane: boolean, opts: { tickets: number; changes: number; seconds: number; interval: string; entities: string[] | null }): Promise<LaneResult> {
  return withSandboxes(Promise.all([
    startSandboxProcess('zendesk', { tickets: opts.tickets, seed: 1, maxComments: 4 }),
    startSandboxProcess('freshdesk', { tickets: 0, seed: 2, requestsPerMinute: null }),
  ]), 'hdm-lag-bench-', async (source, target, dir) => {
    const configFile = join(dir, 'migration.yaml');
    const config = {
      name: 'lag-bench',
      source: { platform: 'zendesk', url: source.url, concurrency: 8, fastLane },
      target: { platform: 'freshdesk', url: target.url, concurrency: 8 },
      stateDir: join(dir, 'state'),
    };
    writeFileSync(configFile, stringify(config));
    const env = { ...process.env, ...source.env, ...target.env };
    const full = await hdm(['migrate', '--config', configFile, '--json', '--no-progress', '--no-verify'], env);
    if (full.code !== 0) throw new Error(`migrate exited ${full.code}`);
    const ids = await openTickets(source, opts.changes);
    if (ids.length < opts.changes) throw new Error(`only ${ids.length} open tickets to change; raise --tickets`);
    const before = await limitStats(source);
    // The full run moves everything; the delta reads only the streams asked for.
    if (opts.entities) writeFileSync(configFile, stringify({ ...config, entities: opts.entities }));

    const child = spawn(process.execPath, [HDM, 'delta', '--config', configFile, '--json', '--follow', '--interval', opts.interval], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let passes = 0;
    let updated = 0;
    const passOf = new Map<string, { pass: number; deferred: string[] }>();
    const lines = createInterface({ input: child.stdout! });
    const reading = (async () => {
      for await (const line of lines) {
        const pass = JSON.parse(line) as { run?: { runId: string; summary?: { deferred?: string[] } }; counts?: { ticket?: { updated?: number } } };
        passes += 1;
        if (pass.run) passOf.set(pass.run.runId, { pass: passes, deferred: pass.run.summary?.deferred ?? [] });
        updated += pass.counts?.ticket?.updated ?? 0;
      }
    })();

    const changedAt = new Map<string, number>();
    const gap = (opts.seconds * 1000) / opts.changes;
    for (const id of ids) {
      const started = Date.now();
      const res = await fetch(`${source.url}/__sandbox/tickets/${id}/comments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ body: `lag bench reply on ${id}`, public: true }),
      });
      if (res.ok) changedAt.set(String(id), Date.now());
      const wait = gap - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    // Until every change is loaded, or the export's minute and two passes are long past.
    const deadline = Date.now() + 180_000;
    while (updated < changedAt.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    await reading;
    await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
    const after = await limitStats(source);

    const sql = await hdm(['sql', '--config', configFile, "SELECT source_id, toUnixTimestamp64Milli(min(attempt_at)) AS at, argMin(run_id, attempt_at) AS run FROM load_attempts WHERE entity = 'ticket' AND action = 'updated' AND run_id LIKE 'delta-%' GROUP BY source_id"], env);
    const lags: number[] = [];
    const byPass = new Map<number, { pass: number; changes: number; max: number; deferred: string[] }>();
    for (const line of sql.stdout.trim().split('\n').filter(Boolean)) {
      const row = JSON.parse(line) as { source_id: string; at: string | number; run: string };
      const at = changedAt.get(row.source_id);
      if (at === undefined) continue;
      const lag = Math.max(0, Number(row.at) - at);
      lags.push(lag);
      const of = passOf.get(row.run) ?? { pass: 0, deferred: [] };
      const entry = byPass.get(of.pass) ?? { pass: of.pass, changes: 0, max: 0, deferred: of.deferred };
      entry.changes += 1;
      entry.max = Math.max(entry.max, lag);
      byPass.set(of.pass, entry);
    }
    const bucket = (name: string, key: 'admitted' | 'refused') => (after[name]?.[key] ?? 0) - (before[name]?.[key] ?? 0);
    return {
      fastLane,
      changes: changedAt.size,
      loaded: lags.length,
      p50: percentile(lags, 0.5),
      p95: percentile(lags, 0.95),
      max: Math.max(0, ...lags),
      passes,
      listTickets: { admitted: bucket('list-tickets', 'admitted'), refused: bucket('list-tickets', 'refused') },
      exportRefused: bucket('incremental-exports', 'refused'),
      byPass: [...byPass.values()].sort((a, b) => a.pass - b.pass),
    };
  });
}

export async function main(argv: string[]): Promise<void> {
  const values = benchArgs(
    argv,
    {
      tickets: { type: 'string', default: '200' },
      changes: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '120' },
      interval: { type: 'string', default: '10s' },
      entities: { type: 'string' },
      'no-record': { type: 'boolean', default: false },
    },
    'npm run bench -- lag [--tickets 200] [--changes 20] [--seconds 120] [--interval 10s] [--entities ticket,…] [--no-record]\n' +
      'delta --follow against the Zendesk sandbox with its one-minute export exclusion, with the fast lane and\n' +
      'without: change-to-load lag p50/p95 and the List Tickets bucket used. Records in docs/benchmarks.md.\n',
  );
  if (!values) return;
  const entities = values.entities ? values.entities.split(',').map((e) => e.trim()).filter(Boolean) : null;
  const opts = { tickets: Number(values.tickets), changes: Number(values.changes), seconds: Number(values.seconds), interval: values.interval!, entities };
  const results: LaneResult[] = [];
  for (const fastLane of [true, false]) {
    results.push(await runLane(fastLane, opts));
    process.stderr.write(`bench lag: fast lane ${fastLane ? 'on' : 'off'} done\n`);
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const machine = machineLine();
  const rows = results.map(
    (r) =>
      `| ${r.fastLane ? 'on' : 'off'} | ${r.loaded} of ${r.changes} | ${s(r.p50)} | ${s(r.p95)} | ${s(r.max)} | ${r.passes} | ${r.listTickets.admitted} (${r.listTickets.refused} refused) | ${r.exportRefused} |`,
  );
  const split = results
    .map((r) => `Lag by pass, fast lane ${r.fastLane ? 'on' : 'off'} (pass: changes, worst lag, streams deferred): ${r.byPass.map((p) => `${p.pass}: ${p.changes}, ${s(p.max)}${p.deferred.length ? `, ${p.deferred.join('/')}` : ''}`).join('; ')}.`)
    .join('\n');
  const table = `| fast lane | changes loaded | lag p50 | lag p95 | lag max | passes | List Tickets requests (429s) | export 429s |\n|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n\n${split}`;
  process.stdout.write(`${machine}\n${table}\n`);
  if (!values['no-record']) {
    const date = new Date().toISOString().slice(0, 10);
    const block = `\n### ${date} · lag · \`npm run bench -- lag --tickets ${opts.tickets} --changes ${opts.changes} --seconds ${opts.seconds} --interval ${opts.interval}${entities ? ` --entities ${entities.join(',')}` : ''}\`\nMachine: ${machine}\nZendesk sandbox at Enterprise limits with its one-minute export exclusion (\`exportLagSeconds\` 60) → Freshdesk sandbox; one reply on a different open ticket every ${(opts.seconds / opts.changes).toFixed(0)} s; lag from the source's answer to the write to the ticket's load in the ledger. Delta entities: ${entities ? entities.join(', ') : 'all'}.\n\n${table}\n`;
    appendReport(block);
  }
}
