import { expect } from 'vitest';

/** The part of the API app the run helpers use (fastify's `inject`). */
export interface Injectable {
  inject(request: { method: 'GET' | 'POST'; url: string; headers: Record<string, string>; payload?: Record<string, unknown> }): Promise<{
    statusCode: number;
    body: string;
    json(): any;
  }>;
}

/** Waits until the migration has no active job and answers its newest job; throws past `timeoutMs`. */
export async function idleJob(app: Injectable, name: string, headers: Record<string, string>, timeoutMs = 300_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = (await app.inject({ method: 'GET', url: `/api/migrations/${encodeURIComponent(name)}`, headers })).json();
    if (!body.activeJob) return body.jobs[0];
    if (Date.now() > deadline) throw new Error(`the run of ${name} did not end within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts a run through the API (202 expected) and answers its job once it has ended. */
export async function runToEnd(app: Injectable, name: string, headers: Record<string, string>, kind: string, options: Record<string, unknown> = {}, timeoutMs?: number): Promise<Record<string, any>> {
  const started = await app.inject({ method: 'POST', url: `/api/migrations/${encodeURIComponent(name)}/runs`, headers, payload: { kind, options } });
  expect(started.statusCode, started.body).toBe(202);
  return idleJob(app, name, headers, timeoutMs);
}
