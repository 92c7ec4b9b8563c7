import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The `hdm` binary as a user runs it. */
export const HDM = fileURLToPath(new URL('../../bin/hdm.mjs', import.meta.url));

export interface HdmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `hdm <args>` in a child process with exactly `env`, collecting its output and exit code. */
export function hdm(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<HdmResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HDM, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running `hdm` process (a cluster service), its output collected as it comes. */
export interface HdmService {
  child: ChildProcess;
  exited: Promise<number | null>;
  log(): string;
}

/** Starts `hdm <args>` in the background; the caller keeps `children` to kill what is left at the end. */
export function hdmService(args: string[], env: NodeJS.ProcessEnv, children: ChildProcess[]): HdmService {
  const child = spawn(process.execPath, [HDM, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, exited, log: () => log };
}
