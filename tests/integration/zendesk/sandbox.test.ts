import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { sandbox } from './helpers.ts';

// Integration: the sandbox over raw HTTP, as any Zendesk client would call it.
describe('zendesk sandbox API', () => {
  let sb: ZendeskSandbox;
  let auth: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw JSON from the wire
  type Json = any;
  const api = async (path: string, init: RequestInit = {}): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${sb.url}${path}`, { ...init, headers: { authorization: auth, 'content-type': 'application/json', ...(init.headers ?? {}) } });
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, body: type.includes('json') ? await res.json() : await res.text() };
  };

  beforeAll(async () => {
    sb = await sandbox({ tickets: 30, seed: 51, articles: 3, maxComments: 2 });
    auth = `Basic ${Buffer.from(`${sb.credentials.email}/token:${sb.credentials.apiToken}`).toString('base64')}`;
  });
  afterAll(async () => sb?.close());

  it('serves the time-based ticket export with end_time, next_page and end_of_stream', async () => {
    const ids = new Set<number>();
    let url = '/api/v2/incremental/tickets.json?start_time=0&per_page=12';
    for (let i = 0; i < 10; i++) {
      const { status, body } = await api(url);
      expect(status).toBe(200);
      for (const t of body.tickets) ids.add(t.id);
      expect(typeof body.end_time).toBe('number');
      if (body.end_of_stream) break;
      url = new URL(body.next_page).pathname + new URL(body.next_page).search;
    }
    expect(ids.size).toBe(30);
  });

  it('pages lists both ways: cursor links.next / meta.has_more and offset next_page, capped at 100 pages', async () => {
    const cursor = await api('/api/v2/users.json?page[size]=10');
    expect(cursor.body.meta.has_more).toBe(true);
    expect(cursor.body.links.next).toContain('page%5Bafter%5D=');
    const offset = await api('/api/v2/users.json?per_page=10&page=2');
    expect(offset.body.next_page).toContain('page=3');
    expect(offset.body.previous_page).toContain('page=1');
    expect((await api('/api/v2/users.json?page=101')).status).toBe(400);
  });

  it('imports tickets in bulk behind a job status, and uploads files that comments then carry', async () => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 250]);
    const up = await fetch(`${sb.url}/api/v2/uploads.json?filename=blob.bin`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/binary' }, body: bytes });
    expect(up.status).toBe(201);
    const { upload } = (await up.json()) as Json;
    expect(upload).toMatchObject({ token: expect.any(String), attachment: { file_name: 'blob.bin', size: 6, content_type: 'application/octet-stream' } });
    const requester = [...sb.store.users.values()].find((u) => u.role === 'end-user')!.id;
    const job = await api('/api/v2/imports/tickets/create_many.json', {
      method: 'POST',
      body: JSON.stringify({
        tickets: [
          { subject: 'old one', requester_id: requester, created_at: '2019-05-01T10:00:00Z', comments: [{ author_id: requester, value: 'first', created_at: '2019-05-01T10:00:00Z', uploads: [upload.token] }] },
          { subject: 'no requester', comments: [{ value: 'x' }] },
        ],
      }),
    });
    expect(job.body.job_status.status).toBe('queued');
    const done = await api(`/api/v2/job_statuses/${job.body.job_status.id}.json`);
    expect(done.body.job_status).toMatchObject({ status: 'completed', total: 2, results: [{ index: 0, status: 'Created' }, { index: 1, success: false }] });
    const id = done.body.job_status.results[0].id;
    const comments = await api(`/api/v2/tickets/${id}/comments.json`);
    expect(comments.body.comments[0]).toMatchObject({ created_at: '2019-05-01T10:00:00Z', author_id: requester, attachments: [{ file_name: 'blob.bin', size: 6 }] });
    const file = await fetch(comments.body.comments[0].attachments[0].content_url, { headers: { authorization: auth } });
    expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
    expect((await api(`/api/v2/tickets.json?external_id=none`)).body.tickets).toEqual([]);
  });

  it('touches chosen records over HTTP and they come first in the export from that time', async () => {
    const at = new Date(Math.floor(Date.now() / 1000 - 300) * 1000).toISOString();
    const res = await fetch(`${sb.url}/__sandbox/touch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entity: 'ticket', ids: [7, 9], updated_at: at }) });
    expect(await res.json()).toEqual({ ids: [7, 9] });
    const page = await api(`/api/v2/incremental/tickets/cursor.json?start_time=${Date.parse(at) / 1000}`);
    expect(page.body.tickets.slice(0, 2).map((t: { id: number; updated_at: string }) => [t.id, t.updated_at])).toEqual([
      [7, at.replace('.000Z', 'Z')],
      [9, at.replace('.000Z', 'Z')],
    ]);
  });

  it('answers Help Center paths with or without a locale, and closed tickets refuse updates', async () => {
    expect((await api('/api/v2/help_center/en-us/articles.json')).body.articles.length).toBe(3);
    expect((await api('/api/v2/help_center/articles.json')).body.articles.length).toBe(3);
    const closed = [...Array(30).keys()].map((i) => sb.store.ticket(i + 1)!).find((t) => t.status === 'closed')!;
    const res = await api(`/api/v2/tickets/${closed.id}.json`, { method: 'PUT', body: JSON.stringify({ ticket: { subject: 'x' } }) });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ error: 'RecordInvalid', details: { status: [{ description: expect.stringMatching(/closed/) }] } });
  });
});
