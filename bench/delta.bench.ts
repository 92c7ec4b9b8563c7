import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { startSandboxProcess, type SandboxProcess } from '../services/cli/sandbox-process.ts';
import { appendReport, benchArgs, HDM, hdm, machineLine, percentile , withSandboxes } from './common.ts';

async function sourceRequests(source: SandboxProcess): Promise<number> {
  const res = await fetch(`${source.url}/__sandbox/state`);
  return ((await res.json()) as { requests_served: number }).requests_served;
}

/** Changes `count` tickets at the source the way agents do: a reply and a tag on each. */
async function changeTickets(source: SandboxProcess, ids: number[], label: string): Promise<number> {
  let changed = 0;
  for (const id of ids) {
    const res = await fetch(`${source.url}/__sandbox/tickets/${id}/comments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ body: `${label} reply on ${id}`, public: true }),
    });
    if (res.ok) changed += 1; // closed tickets refuse changes, as on Zendesk
  }
  return changed;
}

export async function main(argv: string[]): Promise<void> {
  const values = benchArgs(
    argv,
    {
      tickets: { type: 'string', default: '10000' },
      changed: { type: 'string', default: '0.01' },
      'follow-seconds': { type: 'string', default: '60' },
      interval: { type: 'string', default: '5s' },
      rate: { type: 'string', default: '5' },
      'no-record': { type: 'boolean', default: false },
    },
    'npm run bench -- delta [--tickets 10000] [--changed 0.01] [--follow-seconds 60] [--interval 5s] [--rate 5] [--no-record]\n' +
      'Full run, then one delta after changing a share of the tickets (source requests compared), then delta --follow\n' +
      'under a steady change rate (changes per second) with change-to-target lag p50/p95. Records in docs/benchmarks.md.\n',
  );
  if (!values) return;
  const tickets = Number(values.tickets);
  const share = Number(values.changed);
  return withSandboxes(Promise.all([
    startSandboxProcess('zendesk', { tickets, seed: 1, requestsPerMinute: null, maxOldSpaceMb: 12_000 }),
    startSandboxProcess('freshdesk', { tickets: 0, seed: 2, requestsPerMinute: null, maxOldSpaceMb: 12_000 }),
  ]), 'hdm-delta-bench-', async (source, target, dir) => {
    const configFile = join(dir, 'migration.yaml');
    writeFileSync(
      configFile,
      stringify({
        name: 'delta-bench',
        source: { platform: 'zendesk', url: source.url, concurrency: 16 },
        target: { platform: 'freshdesk', url: target.url, concurrency: 16 },
        stateDir: join(dir, 'state'),
      }),
    );
    const env = { ...process.env, ...source.env, ...target.env };
    const r0 = await sourceRequests(source);
    const full = await hdm(['migrate', '--config', configFile, '--json', '--no-progress', '--no-verify'], env);
    if (full.code !== 0) throw new Error(`migrate exited ${full.code}`);
    const fullRequests = (await sourceRequests(source)) - r0;

    const step = Math.max(1, Math.round(1 / share));
    const ids = Array.from({ length: Math.floor(tickets / step) }, (_, i) => 1 + i * step);
    const changed = await changeTickets(source, ids, 'bench');
    const r1 = await sourceRequests(source);
    const delta = await hdm(['delta', '--config', configFile, '--json'], env);
    if (delta.code !== 0) throw new Error(`delta exited ${delta.code}`);
    const deltaRequests = (await sourceRequests(source)) - r1;
    const deltaPass = JSON.parse(delta.stdout.trim().split('\n')[0]);
    process.stderr.write(`bench delta: full ${fullRequests} source requests, delta ${deltaRequests} for ${changed} changed tickets\n`);

    // --follow under a steady change rate.
    const followSeconds = Number(values['follow-seconds']);
    const rate = Number(values.rate);
    const child = spawn(process.execPath, [HDM, 'delta', '--config', configFile, '--json', '--follow', '--interval', values.interval!], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const passes: { lag: { p50: number; p95: number; samples: number } | null }[] = [];
    const lines = createInterface({ input: child.stdout! });
    const reading = (async () => {
      for await (const line of lines) passes.push(JSON.parse(line));
    })();
    const openIds = ids.slice(0, Math.max(1, Math.min(ids.length, 200)));
    const until = Date.now() + followSeconds * 1000;
    let written = 0;
    while (Date.now() < until) {
      const started = Date.now();
      written += await changeTickets(source, [openIds[written % openIds.length]], `follow-${written}`);
      const wait = 1000 / rate - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    // Let the last changes be picked up, then stop.
    await new Promise((r) => setTimeout(r, 15_000));
    child.kill('SIGINT');
    await reading;
    const withLag = passes.filter((p) => p.lag && p.lag.samples > 0).map((p) => p.lag!);
    const p50 = percentile(withLag.map((l) => l.p50), 0.5);
    const p95 = Math.max(0, ...withLag.map((l) => l.p95));

    const machine = machineLine();
    const rows = [
      `| full run, ${tickets} tickets | ${fullRequests} | — |`,
      `| one delta after ${changed} tickets changed (${(share * 100).toFixed(1)}%) | ${deltaRequests} | ${(deltaRequests / fullRequests).toFixed(4)} of the full run; ${deltaPass.counts.ticket.read} tickets read |`,
      `| --follow ${followSeconds}s at ${rate} changes/s, interval ${values.interval} | ${passes.length} passes | lag p50 ${(p50 / 1000).toFixed(1)} s, p95 ${(p95 / 1000).toFixed(1)} s (median of per-pass p50, worst per-pass p95) |`,
    ];
    process.stdout.write(`${machine}\n${rows.join('\n')}\n`);
    if (!values['no-record']) {
      const date = new Date().toISOString().slice(0, 10);
      const block = `\n### ${date} · delta · \`npm run bench -- delta --tickets ${tickets} --changed ${share} --follow-seconds ${followSeconds} --interval ${values.interval} --rate ${rate}\`\nMachine: ${machine}\n\n| what | source API requests | notes |\n|---|---|---|\n${rows.join('\n')}\n`;
      appendReport(block);
    }
  });
}
