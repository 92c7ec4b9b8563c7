import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyRt, ensureRt, rtInstalled } from '../../../services/launcher/rt.launcher.ts';

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
