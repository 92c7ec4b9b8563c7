import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyRt, ensureRt, rtInstalled } from '../../../tools/launcher/rt.launcher.ts';

// The launcher against the real packages: idempotent start, reset to the pristine database, stop.
const name = `launcher-test-${process.pid}`;
afterAll(() => destroyRt({ name }));

const api = (url: string, token: string, path: string, init: RequestInit = {}) =>
  fetch(`${url}/REST/2.0/${path}`, { ...init, headers: { authorization: `token ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

describe('RT launcher', () => {
  it('starts once, reuses the running server, resets to pristine, stops', async () => {
    const first = await ensureRt({ name });
    expect(rtInstalled()).toBe(true);
    expect((await api(first.url, first.token, 'rt')).status).toBe(200);
    const again = await ensureRt({ name });
    expect(again.pid).toBe(first.pid);
    expect(again.timings.startMs).toBe(0);

    const created = await api(first.url, first.token, 'queue', { method: 'POST', body: JSON.stringify({ Name: 'Scratch' }) });
    expect(created.status).toBe(201);
    expect((await api(first.url, first.token, 'queue/Scratch')).status).toBe(200);

    const started = performance.now();
    await first.reset();
    expect(performance.now() - started).toBeLessThan(30_000);
    expect((await api(first.url, first.token, 'queue/Scratch')).status).toBe(404);
    expect((await api(first.url, first.token, 'queue/General')).status).toBe(200);

    await first.stop();
    await expect(fetch(`${first.url}/REST/2.0/rt`)).rejects.toThrow();
    expect(existsSync(first.db)).toBe(true);
  });
});

describe('RT launcher in a directory whose path says "help"', () => {
  // Debian's rt-server prints its usage and exits when an argument contains "help"; a clone named
  // helpdesk-migrator put that word into the access log's path.
  const stateDir = mkdtempSync(join(tmpdir(), 'hdm-helpdesk-help-'));
  afterAll(async () => {
    await destroyRt({ name: 'help', stateDir });
    await destroyRt({ name: 'taken', stateDir });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('starts RT with an access log under a path containing "help"', async () => {
    const rt = await ensureRt({ name: 'help', stateDir, accessLog: true, startTimeoutMs: 60_000 });
    expect(rt.dir).toContain('help');
    expect((await api(rt.url, rt.token, 'queue/General')).status).toBe(200);
    expect(readFileSync(rt.accessLog!, 'utf8')).toContain('/REST/2.0/queue/General');
  });

  it('reports a server that exits at once as exited, with its output, without waiting out the timeout', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const started = performance.now();
      const error = await ensureRt({ name: 'taken', stateDir, port, startTimeoutMs: 120_000 }).then(
        () => null,
        (err: Error) => err,
      );
      expect(error?.message).toMatch(/RT's server exited with code \d+/);
      expect(error?.message).toMatch(/couldn't start up a web server on port \d+/);
      expect(performance.now() - started).toBeLessThan(60_000);
    } finally {
      blocker.close();
    }
  });
});
