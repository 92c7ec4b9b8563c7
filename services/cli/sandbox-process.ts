import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HdmError } from '../../schemas/errors.ts';

const HDM = fileURLToPath(new URL('../../bin/hdm.mjs', import.meta.url));

export interface SandboxProcess {
  url: string;
  credentials: Record<string, string>;
  env: Record<string, string>;
  child: ChildProcess;
  close(): Promise<void>;
}

/**
 * A sandbox in a process of its own (`hdm sandbox … --json`), so that it does not share the
 * migration's thread: on a 2-core machine the pipeline and the sandboxes then use both cores.
 */
export async function startSandboxProcess(
  platform: string,
  options: { tickets: number; seed: number; requestsPerMinute?: number | null; maxOldSpaceMb?: number; maxComments?: number },
): Promise<SandboxProcess> {
  const args = [
    ...(options.maxOldSpaceMb ? [`--max-old-space-size=${options.maxOldSpaceMb}`] : []),
    HDM,
    'sandbox',
    platform,
    '--tickets',
    String(options.tickets),
    '--seed',
    String(options.seed),
    '--json',
    ...(options.maxComments !== undefined ? ['--max-comments', String(options.maxComments)] : []),
    ...(options.requestsPerMinute === null ? ['--unthrottled'] : options.requestsPerMinute ? ['--rpm', String(options.requestsPerMinute)] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const info = JSON.parse(line) as { url: string; credentials: Record<string, string>; env: Record<string, string> };
    lines.close();
    return {
      ...info,
      child,
      async close() {
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited;
      },
    };
  }
  throw new HdmError('INTERNAL', `the ${platform} sandbox process exited before printing its address`);
}
