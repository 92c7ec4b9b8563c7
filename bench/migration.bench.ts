import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startSandboxProcess } from '../services/cli/sandbox-process.ts';
import { appendReport, benchArgs, hdm, machineLine , withSandboxes } from './common.ts';

export interface BenchResult {
  tickets: number;
  canonicalRecords: number;
  migrateSeconds: number;
  recordsPerSecond: number;
  peakRssMb: number;
  wallSeconds: number;
  verifySeconds: number | null;
  clean: boolean | null;
}

async function benchOne(tickets: number, from: string, to: string, verify: boolean): Promise<BenchResult> {
  return withSandboxes(Promise.all([
    startSandboxProcess(from, { tickets, seed: 1, requestsPerMinute: null, maxOldSpaceMb: 12_000 }),
    startSandboxProcess(to, { tickets: 0, seed: 2, requestsPerMinute: null, maxOldSpaceMb: 12_000 }),
  ]), 'hdm-bench-', async (source, target, dir) => {
    const configFile = join(dir, 'migration.yaml');
    writeFileSync(
      configFile,
      stringify({
        name: `bench-${tickets}`,
        source: { platform: from, url: source.url, concurrency: 16 },
        target: { platform: to, url: target.url, concurrency: 16 },
        stateDir: join(dir, 'state'),
      }),
    );
    const env = { ...process.env, ...source.env, ...target.env };
    const migrate = await hdm(['migrate', '--config', configFile, '--json', '--no-progress', '--no-verify'], env);
    if (migrate.code !== 0) throw new Error(`migrate exited ${migrate.code}`);
    const result = JSON.parse(migrate.stdout);
    let verifySeconds: number | null = null;
    let clean: boolean | null = null;
    if (verify) {
      const v = await hdm(['verify', '--config', configFile, '--json', '--no-source-scan'], env);
      verifySeconds = v.seconds;
      clean = JSON.parse(v.stdout).clean;
    }
    return {
      tickets,
      canonicalRecords: result.canonicalRecords,
      migrateSeconds: result.seconds,
      recordsPerSecond: result.recordsPerSecond,
      peakRssMb: result.peakRssMb,
      wallSeconds: migrate.seconds,
      verifySeconds,
      clean,
    };
  });
}

export async function main(argv: string[]): Promise<void> {
  const values = benchArgs(
    argv,
    {
      sizes: { type: 'string', default: '10000,100000' },
      from: { type: 'string', default: 'zendesk' },
      to: { type: 'string', default: 'freshdesk' },
      verify: { type: 'boolean', default: false },
      'no-record': { type: 'boolean', default: false },
    },
    'npm run bench -- [--sizes 10000,100000] [--from zendesk] [--to freshdesk] [--verify] [--no-record]\n' +
      'Full migrations between unthrottled sandboxes (each in its own process); records results in docs/benchmarks.md.\n',
  );
  if (!values) return;
  const sizes = values.sizes!.split(',').map((s) => Number(s.trim()));
  const results: BenchResult[] = [];
  for (const size of sizes) {
    process.stderr.write(`bench: ${size} tickets ${values.from} → ${values.to}…\n`);
    const r = await benchOne(size, values.from!, values.to!, values.verify!);
    process.stderr.write(`bench: ${JSON.stringify(r)}\n`);
    results.push(r);
  }
  const machine = machineLine();
  const date = new Date().toISOString().slice(0, 10);
  const rows = results.map(
    (r) =>
      `| ${date} | ${values.from} → ${values.to} | ${r.tickets} | ${r.canonicalRecords} | ${r.migrateSeconds.toFixed(1)} | ${r.recordsPerSecond} | ${r.peakRssMb} | ${r.verifySeconds === null ? '—' : `${r.verifySeconds.toFixed(1)} (${r.clean ? 'clean' : 'NOT clean'})`} |`,
  );
  process.stdout.write(`${machine}\n${rows.join('\n')}\n`);
  if (!values['no-record']) {
    const header =
      '| date | direction | tickets | canonical records | migrate s | records/s | peak RSS MB | verify s |\n|---|---|---|---|---|---|---|---|\n';
    const block = `\n### ${date} · \`npm run bench -- --sizes ${values.sizes}${values.verify ? ' --verify' : ''}\`\nMachine: ${machine}\n\n${header}${rows.join('\n')}\n`;
    appendReport(block);
    process.stderr.write(`bench: recorded in docs/benchmarks.md\n`);
  }
}
