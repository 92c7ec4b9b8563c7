import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** What the benches share: the `hdm` they run, the machine line and the report they append to. */

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const HDM = join(ROOT, 'bin/hdm.mjs');
export const REPORT = join(ROOT, 'docs/benchmarks.md');

/** Runs `hdm` to its end in a child process, its stdout collected, its stderr passed through. */
export function hdm(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; seconds: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HDM, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code) => resolve({ code, stdout, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
  });
}

/** The `q` quantile of `values` (nearest rank); 0 for none. */
export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Cores, CPU model, memory and Node version, as each recorded result names its machine. */
export function machineLine(): string {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/** Appends `block` to docs/benchmarks.md, after `section` (a heading and its introduction) when the report lacks that heading. */
export function appendReport(block: string, section?: { heading: string; intro: string }): void {
  let text = '';
  try {
    text = readFileSync(REPORT, 'utf8');
  } catch {
    text = '';
  }
  text = text.trimEnd();
  if (section && !text.includes(section.heading)) text += `\n\n${section.heading}\n${section.intro}\n`;
  writeFileSync(REPORT, `${text}\n${block}`);
}

/** Parses a bench's flags, `--help` added; prints `usage` and returns null when asked for help. */
export function benchArgs<const O extends ParseArgsOptionsConfig>(argv: string[], options: O, usage: string) {
  const { values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', default: false } } as O & { help: { type: 'boolean'; default: false } } });
  if ((values as { help?: boolean }).help) {
    process.stdout.write(usage);
    return null;
  }
  return values;
}

/** Runs `body` once both sandboxes have started, with a scratch directory; then closes both and removes the directory. */
export async function withSandboxes<S extends { close(): Promise<unknown> }, T>(
  started: Promise<[S, S]>,
  dirPrefix: string,
  body: (source: S, target: S, dir: string) => Promise<T>,
): Promise<T> {
  const [source, target] = await started;
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  try {
    return await body(source, target, dir);
  } finally {
    await Promise.all([source.close(), target.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
