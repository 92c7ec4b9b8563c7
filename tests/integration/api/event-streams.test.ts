import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildApi, type Api } from '../../../services/api/app.ts';
import type { EventStreamLimits } from '../../../services/api/event-stream.ts';

/**
 * Server-sent event streams over a real listening server: how many may be open, and what a reader
 * that stops reading costs the server. Nothing here reaches a platform: the streams only carry what
 * the migration's handle emits.
 */

let dir: string;
const name = 'streams';
const opened: Api[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hdm-api-streams-'));
  writeFileSync(
    join(dir, 'm.yaml'),
    stringify({
      name,
      source: { platform: 'zendesk', url: 'https://acme.zendesk.com', credentials: { email: { env: 'ZENDESK_EMAIL' }, apiToken: { env: 'ZENDESK_API_TOKEN' } } },
      target: { platform: 'freshdesk', url: 'https://acme.freshdesk.com', credentials: { apiKey: { env: 'FRESHDESK_API_KEY' } } },
    }),
  );
});
afterAll(async () => {
  for (const api of opened) await api.app.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(limits: EventStreamLimits): Promise<{ api: Api; port: number }> {
  const api = buildApi({ stateDir: join(dir, `state-${opened.length}`), configFiles: [join(dir, 'm.yaml')], env: {}, eventStreams: limits });
  opened.push(api);
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  return { api, port: (api.app.server.address() as { port: number }).port };
}

/** A client on a bare socket: it reads only when told to, so the server meets a reader that does not read. */
function openStream(port: number, token: string): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      resolve({ socket, head });
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(`GET /api/migrations/${name}/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`);
  });
}

async function openStreams(api: Api): Promise<number> {
  const admin = api.tokens.create('admin', 'metrics').token;
  const res = await api.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${admin}` } });
  api.tokens.revoke(admin.split('_')[1]);
  return Number(/^hdm_api_event_streams (\d+)$/m.exec(res.body)![1]);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('a cap on open event streams', () => {
  it('answers 429 past the per-token cap and 503 past the overall cap, and frees a slot when a stream closes', async () => {
    const { api, port } = await serve({ maxStreams: 3, maxStreamsPerToken: 2 });
    const [a, b, c] = ['a', 'b', 'c'].map((label) => api.tokens.create('viewer', label).token);
    const refusal = async (token: string) => {
      const res = await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/events`, headers: { authorization: `Bearer ${token}` } });
      return { status: res.statusCode, code: res.json().error?.code, retryAfter: res.headers['retry-after'], type: res.headers['content-type'] };
    };

    const a1 = await openStream(port, a);
    const a2 = await openStream(port, a);
    for (const s of [a1, a2]) expect(s.head).toMatch(/^HTTP\/1\.1 200/);
    expect(await refusal(a)).toEqual({ status: 429, code: 'TOO_MANY_STREAMS', retryAfter: '10', type: expect.stringContaining('application/json') });

    const b1 = await openStream(port, b);
    expect(b1.head).toMatch(/^HTTP\/1\.1 200/);
    expect(await refusal(c)).toEqual({ status: 503, code: 'STREAMS_EXHAUSTED', retryAfter: '10', type: expect.stringContaining('application/json') });
    expect(await refusal(b)).toMatchObject({ status: 503, code: 'STREAMS_EXHAUSTED' });
    expect(await openStreams(api)).toBe(3);

    a1.socket.destroy();
    await until('the closed stream to give its slot back', async () => (await openStreams(api)) === 2);
    const c1 = await openStream(port, c);
    expect(c1.head).toMatch(/^HTTP\/1\.1 200/);
    expect(await refusal(a)).toMatchObject({ status: 503 });
    for (const s of [a2, b1, c1]) s.socket.destroy();
    await until('every stream to close', async () => (await openStreams(api)) === 0);
  });
});

describe('a reader that does not read (regression: every event was buffered for it in memory)', () => {
  it('skips the states it missed and gets the latest when it reads again', async () => {
    const { api, port } = await serve({});
    const { socket } = await openStream(port, api.tokens.create('viewer').token);
    await until('the stream to open', async () => (await openStreams(api)) === 1);
    const handle = api.registry.get(name);
    const pad = 'x'.repeat(64 * 1024);
    const total = 1000;
    for (let n = 0; n < total; n++) handle.emit({ type: 'summary', data: { n, pad } });

    const seen: number[] = [];
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
        // Unanchored: the response is chunked, so chunk-size lines stand between events.
        const m = /event: summary\ndata: (\{.*\})$/s.exec(buffer.slice(0, cut));
        if (m) seen.push((JSON.parse(m[1]) as { n: number }).n);
        buffer = buffer.slice(cut + 2);
      }
    });
    socket.resume();
    await until('the latest summary', async () => seen.at(-1) === total - 1);
    socket.destroy();
    // 64 MB of events were emitted; what reached the reader is a handful of states, the last one the newest.
    expect(seen.length).toBeLessThan(50);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
  });

  it('is disconnected once it has taken nothing for the stall timeout, and its slot is free again', async () => {
    const { api, port } = await serve({ stallTimeoutMs: 300, maxStreamsPerToken: 1 });
    const token = api.tokens.create('viewer').token;
    const { socket } = await openStream(port, token);
    await until('the stream to open', async () => (await openStreams(api)) === 1);
    const handle = api.registry.get(name);
    const pad = 'x'.repeat(256 * 1024);
    let n = 0;
    // Keep emitting until the socket's buffers are full and the server gives up on the reader.
    const emitter = setInterval(() => handle.emit({ type: 'summary', data: { n: n++, pad } }), 20);
    try {
      await until('the stalled stream to be dropped', async () => (await openStreams(api)) === 0, 20_000);
    } finally {
      clearInterval(emitter);
    }
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.resume();
    await closed;
    const again = await openStream(port, token);
    expect(again.head).toMatch(/^HTTP\/1\.1 200/);
    again.socket.destroy();
  });
});
