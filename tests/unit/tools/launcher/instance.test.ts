import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultServicesDir, ensureInstance, stopInstance } from '../../../../tools/launcher/instance.ts';
import { alive, spawnDetached, stopPid } from '../../../../tools/launcher/process.ts';

/**
 * The instance lifecycle with a real detached process standing in for a server; whether it "answers"
 * is the test's to say, so that a slow answer can be told from a dead process.
 */
describe('ensureInstance', () => {
  const dirs: string[] = [];
  const pids: number[] = [];
  afterEach(async () => {
    for (const pid of pids.splice(0)) await stopPid(pid, 1000);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  const setup = (answers: (calls: number) => boolean, reusePatienceMs?: number) => {
    const dir = mkdtempSync(join(tmpdir(), 'hdm-instance-'));
    dirs.push(dir);
    let spawns = 0;
    let checks = 0;
    const ensure = () =>
      ensureInstance({
        dir,
        what: 'the test server',
        label: 'test server',
        urlOf: (port) => `http://127.0.0.1:${port}`,
        healthy: async () => answers(++checks),
        spawn: (port, logFile) => {
          spawns += 1;
          const pid = spawnDetached(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { cwd: dir, logFile });
          pids.push(pid);
          return { pid, port };
        },
        startTimeoutMs: 5000,
        pollMs: 20,
        reusePatienceMs,
      });
    return { dir, ensure, spawns: () => spawns, checks: () => checks };
  };

  // Regression: a shared registry that missed one health check while two test files loaded the machine
  // was killed and restarted by the next caller, under a poller that was using it (ECONNREFUSED).
  it('reuses a running instance that is slow to answer instead of restarting it', async () => {
    let slowFrom = Infinity;
    const server = setup((n) => n < slowFrom || n >= slowFrom + 3);
    const first = await server.ensure();
    slowFrom = server.checks() + 1;
    const again = await server.ensure();
    expect(server.spawns()).toBe(1);
    expect(again.state.pid).toBe(first.state.pid);
    expect(again.startMs).toBe(0);
    expect(alive(first.state.pid)).toBe(true);
  });

  it('restarts an instance whose process is gone, on its previous port', async () => {
    const server = setup(() => true);
    const first = await server.ensure();
    await stopPid(first.state.pid, 1000);
    const again = await server.ensure();
    expect(server.spawns()).toBe(2);
    expect(again.state.pid).not.toBe(first.state.pid);
    expect(again.state.port).toBe(first.state.port);
  });

  it('restarts a running instance that does not answer within its patience', async () => {
    let hungFrom = Infinity;
    const server = setup((n) => n < hungFrom || server.spawns() > 1, 300);
    const first = await server.ensure();
    hungFrom = server.checks() + 1;
    const again = await server.ensure();
    expect(server.spawns()).toBe(2);
    expect(alive(first.state.pid)).toBe(false);
    expect(again.state.pid).not.toBe(first.state.pid);
    await stopInstance(server.dir, 1000);
    expect(alive(again.state.pid)).toBe(false);
  });
});

describe('defaultServicesDir', () => {
  it('keeps launcher state in a checkout\'s .services, and out of an installed package\'s folder', () => {
    const root = mkdtempSync(join(tmpdir(), 'hdm-services-dir-'));
    try {
      const installed = join(root, 'app', 'node_modules', 'helpdesk-migrator');
      mkdirSync(installed, { recursive: true });
      expect(defaultServicesDir(installed, join(root, 'app'))).toBe(join(root, 'app', '.hdm', 'services'));
      const checkout = join(root, 'clone');
      mkdirSync(join(checkout, '.git'), { recursive: true });
      expect(defaultServicesDir(checkout, root)).toBe(join(checkout, '.services'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
