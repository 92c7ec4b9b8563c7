import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HDM = join(ROOT, 'bin/hdm.mjs');
const REPORT = join(ROOT, 'docs/benchmarks.md');

interface SandboxInfo {
  url: string;
  env: Record<string, string>;
  child: ChildProcess;
}

/** Starts a sandbox in its own process, so its memory is not counted as the migration's. */
async function startSandbox(platform: string, tickets: number, seed: number): Promise<SandboxInfo> {
  const child = spawn(process.execPath, ['--max-old-space-size=12000', HDM, 'sandbox', platform, '--tickets', String(tickets), '--seed', String(seed), '--unthrottled', '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const info = JSON.parse(line) as { url: string; env: Record<string, string> };
    return { url: info.url, env: info.env, child };
  }
  throw new Error(`${platform} sandbox exited before printing its address`);
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; seconds: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HDM, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code) => resolve({ code, stdout, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
  });
}

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
  const source = await startSandbox(from, tickets, 1);
  const target = await startSandbox(to, 0, 2);
  const dir = mkdtempSync(join(tmpdir(), 'hdm-bench-'));
  try {
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
    const migrate = await run(['migrate', '--config', configFile, '--json', '--no-progress', '--no-verify'], env);
    if (migrate.code !== 0) throw new Error(`migrate exited ${migrate.code}`);
    const result = JSON.parse(migrate.stdout);
    let verifySeconds: number | null = null;
    let clean: boolean | null = null;
    if (verify) {
      const v = await run(['verify', '--config', configFile, '--json', '--no-source-scan'], env);
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
  } finally {
    source.child.kill('SIGTERM');
    target.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string', default: '10000,100000' },
      from: { type: 'string', default: 'zendesk' },
      to: { type: 'string', default: 'freshdesk' },
      verify: { type: 'boolean', default: false },
      'no-record': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'npm run bench -- [--sizes 10000,100000] [--from zendesk] [--to freshdesk] [--verify] [--no-record]\n' +
        'Full migrations between unthrottled sandboxes (each in its own process); records results in docs/benchmarks.md.\n',
    );
    return;
  }
  const sizes = values.sizes!.split(',').map((s) => Number(s.trim()));
  const results: BenchResult[] = [];
  for (const size of sizes) {
    process.stderr.write(`bench: ${size} tickets ${values.from} → ${values.to}…\n`);
    const r = await benchOne(size, values.from!, values.to!, values.verify!);
    process.stderr.write(`bench: ${JSON.stringify(r)}\n`);
    results.push(r);
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const date = new Date().toISOString().slice(0, 10);
  const rows = results.map(
    (r) =>
      `| ${date} | ${values.from} → ${values.to} | ${r.tickets} | ${r.canonicalRecords} | ${r.migrateSeconds.toFixed(1)} | ${r.recordsPerSecond} | ${r.peakRssMb} | ${r.verifySeconds === null ? '—' : `${r.verifySeconds.toFixed(1)} (${r.clean ? 'clean' : 'NOT clean'})`} |`,
  );
  process.stdout.write(`${machine}\n${rows.join('\n')}\n`);
  if (!values['no-record']) {
    const header =
      '| date | direction | tickets | canonical records | migrate s | records/s | peak RSS MB | verify s |\n|---|---|---|---|---|---|---|---|\n';
    let text = '';
    try {
      text = readFileSync(REPORT, 'utf8');
    } catch {
      text = '';
    }
    const block = `\n### ${date} · \`npm run bench -- --sizes ${values.sizes}${values.verify ? ' --verify' : ''}\`\nMachine: ${machine}\n\n${header}${rows.join('\n')}\n`;
    writeFileSync(REPORT, `${text.trimEnd()}\n${block}`);
    process.stderr.write(`bench: recorded in docs/benchmarks.md\n`);
  }
}
