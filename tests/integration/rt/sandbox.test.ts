import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyRt, rtStateDir } from '../../../tools/launcher/rt.launcher.ts';

const HDM = fileURLToPath(new URL('../../../bin/hdm.mjs', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let instance: string | null = null;
afterAll(async () => {
  // Only when the test failed half-way: leave no server behind.
  if (instance) await destroyRt({ name: instance });
});

describe('hdm sandbox rt', () => {
  it('stays in the foreground until Ctrl-C, then stops the RT server it started (it exited with code 13 at once)', async () => {
    const child = spawn(process.execPath, [HDM, 'sandbox', 'rt'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let url = '';
    let token = '';
    for await (const line of createInterface({ input: child.stdout! })) {
      url ||= line.match(/listening on (\S+)/)?.[1] ?? '';
      token ||= line.match(/RT_TOKEN=(\S+)/)?.[1] ?? '';
      if (line.includes('Ctrl-C stops it')) break;
    }
    expect(url, stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    instance = `sandbox-${child.pid}-1`;
    const stateFile = join(rtStateDir(), 'instances', instance, 'state.json');
    const { pid } = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number };
    expect(alive(pid)).toBe(true);

    await new Promise((r) => setTimeout(r, 3000));
    expect(child.exitCode, `the sandbox command exited early: ${stderr}`).toBeNull();
    const res = await fetch(`${url}/REST/2.0/rt`, { headers: { authorization: `token ${token}` } });
    expect(res.status).toBe(200);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(existsSync(stateFile)).toBe(false);
    await expect(fetch(`${url}/REST/2.0/rt`)).rejects.toThrow();
    instance = null;
  }, 120_000);
});
