import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeHelpdesk } from '../../../connectors/sdk/fake-helpdesk.ts';
import type { FreshdeskSandbox } from '../../../connectors/freshdesk/index.ts';
import type { Connector } from '../../../connectors/sdk/contract.ts';
import { ENTITIES, type Ticket } from '../../../schemas/canonical.ts';
import { connect, countBy, readAll, sandbox } from './helpers.ts';

describe('freshdesk reader against a seeded sandbox', () => {
  let sb: FreshdeskSandbox;
  let c: Connector;
  beforeAll(async () => {
    sb = await sandbox({ tickets: 120, seed: 5, articles: 6, maxComments: 12 });
    c = connect(sb);
    await c.check();
  });
  afterAll(async () => {
    await c?.close();
    await sb?.close();
  });

  it('reads every entity with the counts the sandbox holds', async () => {
    for (const entity of ENTITIES) {
      const { records } = await readAll(c, entity);
      expect(records.length, entity).toBe(sb.counts()[entity]);
      expect(new Set(records.map((r) => r.sourceId)).size, entity).toBe(records.length);
    }
    // The ticket list sorts by created_at or updated_at, never by ID, and an imported helpdesk's creation
    // times do not follow its IDs (the seed's do not): the range comes from the newest tickets of both
    // orders and the filter API's count, and reaches the highest ID all the same.
    const ids = (await readAll(c, 'ticket')).records.map((r) => Number(r.sourceId));
    expect(await c.idRange!('ticket')).toEqual({ lowest: 1, highest: Math.max(...ids) });
    expect(await c.idRange!('contact')).toBeNull();
  });

  it('carries each ticket whole: description as comment 0, every conversation, attachments that download', async () => {
    const fake = fakeHelpdesk({ seed: 5, tickets: 120, articles: 6, maxComments: 12 });
    const { records } = await readAll(c, 'ticket');
    const byId = new Map(records.map((r) => [r.sourceId, r.record as Ticket]));
    let attachments = 0;
    for (let i = 0; i < 120; i++) {
      const expected = fake.ticket(i);
      const got = byId.get(String(i + 1))!;
      expect(got.comments.length).toBe(expected.comments.length);
      expect(got.comments[0].authorId).toBe(expected.requesterId);
      expect(got.comments[0].createdAt).toBe(got.createdAt);
      expect(got.comments.map((x) => x.public)).toEqual(expected.comments.map((x) => x.public));
      expect(got.comments.map((x) => x.authorId)).toEqual(expected.comments.map((x) => x.authorId));
      expect(got.customFields.channels === null || Array.isArray(got.customFields.channels)).toBe(true);
      expect(got.customFields).toEqual(expected.customFields);
      for (const comment of got.comments) attachments += comment.attachments.length;
    }
    expect(attachments).toBeGreaterThan(0);
    const withFile = [...byId.values()].flatMap((t) => t.comments.flatMap((x) => x.attachments))[0];
    const file = await c.openAttachment(withFile);
    expect(file.body.length).toBe(withFile.size);
  });

  it('maps statuses, priorities and types to the canonical model', async () => {
    const { records } = await readAll(c, 'ticket');
    const statuses = countBy(records, (r) => (r.record as Ticket).status);
    expect([...statuses.keys()].every((s) => ['open', 'pending', 'solved', 'closed'].includes(s))).toBe(true);
    expect(records.every((r) => ['low', 'normal', 'high', 'urgent'].includes((r.record as Ticket).priority!))).toBe(true);
    const ticketFields = (await readAll(c, 'ticketField')).records.map((r) => r.record!);
    expect(ticketFields.map((f) => f.type).sort()).toEqual(['checkbox', 'date', 'decimal', 'dropdown', 'integer', 'multiselect', 'regex', 'text', 'textarea']);
    expect(ticketFields.find((f) => f.key === 'product')!.options.map((o) => o.label)).toEqual(['Basic', 'Pro', 'Enterprise']);
  });

  it('reads KB articles with their translations', async () => {
    const { records } = await readAll(c, 'kbArticle');
    expect(records.length).toBe(6);
    for (const r of records) expect(r.record!.translations.map((t) => t.locale)).toEqual(['de']);
  });

  it('links records to the agent UI', () => {
    expect(c.recordUrl('ticket', '7')).toBe(`${sb.url}/a/tickets/7`);
    expect(c.rateLimit.pageSize).toBe(100);
  });
});

describe('freshdesk ticket pagination edges', () => {
  for (const n of [0, 100, 101]) {
    it(`${n} tickets read exactly once`, async () => {
      const sb = await sandbox({ tickets: n === 0 ? 0 : n, seed: 11, maxComments: 0 });
      const c = connect(sb);
      try {
        if (n === 0) {
          const { records, states } = await readAll(c, 'ticket');
          expect(records).toEqual([]);
          expect(states.length).toBe(1);
          return;
        }
        const { records } = await readAll(c, 'ticket');
        expect(records.length).toBe(n);
        expect(new Set(records.map((r) => r.sourceId)).size).toBe(n);
        const updated = records.map((r) => r.updatedAt);
        expect([...updated].sort()).toEqual(updated);
      } finally {
        await c.close();
        await sb.close();
      }
    });
  }

  it('serves only the last 30 days without updated_since and stops at page 300', async () => {
    const sb = await sandbox({ tickets: 30, seed: 2, maxComments: 0 });
    try {
      const auth = { authorization: `Basic ${Buffer.from(`${sb.apiKey}:X`).toString('base64')}` };
      const recent = await fetch(`${sb.url}/api/v2/tickets`, { headers: auth });
      expect(await recent.json()).toEqual([]);
      sb.createTicket({ subject: 'new' });
      expect(((await (await fetch(`${sb.url}/api/v2/tickets`, { headers: auth })).json()) as unknown[]).length).toBe(1);
      const beyond = await fetch(`${sb.url}/api/v2/tickets?updated_since=2000-01-01T00:00:00Z&page=301`, { headers: auth });
      expect(beyond.status).toBe(400);
      expect(((await beyond.json()) as { errors: { field: string }[] }).errors[0].field).toBe('page');
      const tooBig = await fetch(`${sb.url}/api/v2/tickets?per_page=101`, { headers: auth });
      expect(tooBig.status).toBe(400);
      const denied = await fetch(`${sb.url}/api/v2/tickets`, { headers: { authorization: 'Basic eDpY' } });
      expect(denied.status).toBe(401);
    } finally {
      await sb.close();
    }
  });

  it('reads past the page ceiling (lowered to 3 pages) by re-windowing on updated_at', async () => {
    const sb = await sandbox({ tickets: 750, seed: 4, maxComments: 0, ticketPageCeiling: 3, unthrottled: 'Re-windowing 750 tickets in pages of 3 asks for each ticket\'s conversations: minutes of the Enterprise budget; the reader under the limits is covered by the 429 test below' });
    const c = connect(sb, { concurrency: 16 });
    try {
      const { records } = await readAll(c, 'ticket');
      expect(records.length).toBe(750);
      expect(new Set(records.map((r) => r.sourceId)).size).toBe(750);
    } finally {
      await c.close();
      await sb.close();
    }
  });

  it('reads 1,200 tickets sharing one updated_at exactly once', async () => {
    const sb = await sandbox({ tickets: 1500, seed: 6, maxComments: 0, unthrottled: '1,500 tickets read with their conversations are minutes of the Enterprise budget; the reader under the limits is covered by the 429 test below' });
    const c = connect(sb, { concurrency: 16 });
    try {
      expect(sb.touchTickets('2026-03-01T10:00:00Z', { count: 1200 })).toBe(1200);
      const { records } = await readAll(c, 'ticket');
      expect(records.length).toBe(1500);
      expect(new Set(records.map((r) => r.sourceId)).size).toBe(1500);
      expect(records.filter((r) => r.updatedAt === '2026-03-01T10:00:00.000Z').length).toBe(1200);
    } finally {
      await c.close();
      await sb.close();
    }
  });
});

describe('freshdesk reader under failure', () => {
  it('completes through a 429 storm, every record once', async () => {
    const sb = await sandbox({ tickets: 60, seed: 8, maxComments: 2, requestsPerMinute: 40, rateLimitWindowMs: 1000 });
    const c = connect(sb, { concurrency: 8 });
    try {
      const { records } = await readAll(c, 'ticket');
      expect(records.length).toBe(60);
      expect(new Set(records.map((r) => r.sourceId)).size).toBe(60);
      expect(sb.rateLimited()).toBeGreaterThan(0);
    } finally {
      await c.close();
      await sb.close();
    }
  });

  it('retries injected 5xx and 429 answers', async () => {
    const sb = await sandbox({ tickets: 20, seed: 9, maxComments: 3 });
    const c = connect(sb);
    try {
      sb.injectFaults(500, 3);
      sb.injectFaults(429, 2);
      const { records } = await readAll(c, 'ticket');
      expect(records.length).toBe(20);
      const res = await fetch(`${sb.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 500, count: 2 }) });
      expect(res.status).toBe(200);
      expect((await readAll(c, 'group')).records.length).toBe(sb.counts().group);
    } finally {
      await c.close();
      await sb.close();
    }
  });

  it('resumes from a saved state and sees what changed since, including same-second updates', async () => {
    const sb = await sandbox({ tickets: 250, seed: 10, maxComments: 1 });
    const c = connect(sb);
    try {
      const first = await readAll(c, 'ticket');
      const state = first.states[first.states.length - 1];
      expect(state.coveredUntil).toBe(first.records[first.records.length - 1].updatedAt);
      // Nothing changed: with no overlap nothing comes back; with the default overlap only the last seconds.
      expect((await readAll(c, 'ticket', state, 0)).records.length).toBe(0);
      const last = first.records[first.records.length - 1];
      const sameSecond = sb.createTicket({ subject: 'same second', updated_at: last.updatedAt, created_at: last.updatedAt });
      const later = sb.createTicket({ subject: 'later' });
      sb.addConversation(3, { body: '<p>a new note</p>', private: true });
      const again = await readAll(c, 'ticket', state, 0);
      const ids = again.records.map((r) => r.sourceId).sort();
      expect(ids).toEqual([String(sameSecond.id), String(later.id), '3'].sort());
      const three = again.records.find((r) => r.sourceId === '3')!.record as Ticket;
      expect(three.comments[three.comments.length - 1].body).toBe('<p>a new note</p>');
      const overlapped = await readAll(c, 'ticket', state);
      expect(overlapped.records.map((r) => r.sourceId)).toEqual(expect.arrayContaining(ids));
      // A contact stream resumes too.
      const contacts = await readAll(c, 'contact');
      const cState = contacts.states[contacts.states.length - 1];
      expect((await readAll(c, 'contact', cState, 0)).records.length).toBeLessThanOrEqual(contacts.records.length);
    } finally {
      await c.close();
      await sb.close();
    }
  });

  it('fails fast with AUTH_FAILED on a bad API key, without echoing it', async () => {
    const sb = await sandbox({ tickets: 0, seed: 1 });
    const c = (await import('../../../connectors/freshdesk/index.ts')).freshdesk.createConnector({ url: sb.url, credentials: { apiKey: 'wrong-key-123' } });
    try {
      const started = Date.now();
      const err = await c.check().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'AUTH_FAILED' });
      expect(String((err as Error).message)).not.toContain('wrong-key-123');
      expect(Date.now() - started).toBeLessThan(3000);
      const dead = (await import('../../../connectors/freshdesk/index.ts')).freshdesk.createConnector({ url: 'http://127.0.0.1:9', credentials: { apiKey: 'k' } });
      await expect(dead.check()).rejects.toMatchObject({ code: 'UNREACHABLE' });
      await dead.close();
    } finally {
      await c.close();
      await sb.close();
    }
  });
});
