import { spawn } from 'node:child_process';
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
