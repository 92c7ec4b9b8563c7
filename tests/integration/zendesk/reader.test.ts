import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachmentContent, fakeHelpdesk } from '../../../connectors/sdk/fake-helpdesk.ts';
import type { ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { ENTITIES, type Ticket } from '../../../schemas/canonical.ts';
import { connect, readAll, sandbox } from './helpers.ts';

// Integration: a seeded sandbox over real HTTP, read through the connector.
const SEED = 5;
const TICKETS = 120;
const ARTICLES = 6;

describe('zendesk reader against a seeded sandbox', () => {
  let sb: ZendeskSandbox;
  const fake = fakeHelpdesk({ seed: SEED, tickets: TICKETS, articles: ARTICLES });

  beforeAll(async () => {
    sb = await sandbox({
      tickets: TICKETS,
      seed: SEED,
      articles: ARTICLES,
      unthrottled: 'The boundary test reads everything three times in pages of 2: thousands of requests, minutes of the Enterprise budget; paging under the limits is covered by resilience.test.ts',
    });
  });
  afterAll(async () => sb?.close());

  it('reads every entity, each record once, in the numbers the seed holds', async () => {
    const c = connect(sb);
    try {
      const expected = {
        group: fake.groups.length,
        agent: fake.agents.length,
        organization: fake.organizations.length,
        contact: fake.contacts.length,
        ticketField: fake.ticketFields.length,
        ticket: TICKETS,
        kbCategory: fake.kbCategories.length,
        kbSection: fake.kbSections.length,
        kbArticle: ARTICLES,
      };
      expect(sb.counts()).toEqual(expected);
      for (const entity of ENTITIES) {
        const { envelopes, upserts } = await readAll(c, entity);
        expect(envelopes.length, entity).toBe(expected[entity]);
        expect(upserts.size, `${entity} distinct`).toBe(expected[entity]);
        if (entity !== 'ticketField') expect(await c.count(entity), `${entity} count()`).toSatisfy((n: number | null) => n === null || n === expected[entity]);
      }
      // The ID range bounds exactly the tickets read; other streams do not tell theirs.
      const ids = [...(await readAll(c, 'ticket')).upserts.keys()].map(Number);
      expect(await c.idRange('ticket')).toEqual({ lowest: Math.min(...ids), highest: Math.max(...ids) });
      expect(await c.idRange('contact')).toBeNull();
    } finally {
      await c.close();
    }
  });

  it('carries each ticket with all its comments, in order, with attachment metadata and bytes', async () => {
    const c = connect(sb);
    try {
      const { upserts } = await readAll(c, 'ticket');
      let attachments = 0;
      for (let i = 0; i < TICKETS; i++) {
        const want = fake.ticket(i);
        const got = upserts.get(want.sourceId) as Ticket;
        expect(got.comments.map((x) => x.sourceId)).toEqual(want.comments.map((x) => x.sourceId));
        expect(got.comments.map((x) => [x.authorId, x.public, x.createdAt])).toEqual(want.comments.map((x) => [x.authorId, x.public, x.createdAt]));
        expect(got.comments[0].body.length).toBeGreaterThan(0);
        expect(got.comments.flatMap((x) => x.attachments.map((a) => [a.sourceId, a.fileName, a.size, a.inline]))).toEqual(
          want.comments.flatMap((x) => x.attachments.map((a) => [a.sourceId, a.fileName, a.size, a.inline])),
        );
        expect([got.subject, got.status, got.priority, got.type, got.requesterId, got.assigneeId, got.createdAt]).toEqual([
          want.subject,
          want.status,
          want.priority,
          want.type,
          want.requesterId,
          want.assigneeId,
          want.createdAt,
        ]);
        // Dropdown values travel as labels; the tags Zendesk adds for them are not the ticket's own.
        expect(got.customFields.product).toBe(want.customFields.product);
        expect(got.customFields.affected_channels).toEqual(want.customFields.channels);
        expect(got.customFields.seats).toBe(want.customFields.seats);
        expect([...got.tags].sort()).toEqual([...want.tags].sort());
        attachments += got.comments.reduce((n, x) => n + x.attachments.length, 0);
      }
      expect(attachments).toBeGreaterThan(10);
      const withFiles = [...upserts.values()].flatMap((t) => t.comments.flatMap((x) => x.attachments)).slice(0, 5);
      for (const a of withFiles) {
        const file = await c.openAttachment(a);
        expect(Buffer.from(file.body).equals(Buffer.from(attachmentContent(a)))).toBe(true);
        expect(file.contentType).toBe(a.contentType);
      }
    } finally {
      await c.close();
    }
  });

  it('maps ticket fields, agents, articles and their translations', async () => {
    const c = connect(sb);
    try {
      const fields = await readAll(c, 'ticketField');
      const byKey = new Map([...fields.upserts.values()].map((f) => [f.key, f]));
      expect([...byKey.keys()].sort()).toEqual(fake.ticketFields.map((f) => f.title.toLowerCase().replace(/[^a-z0-9]+/g, '_')).sort());
      expect(byKey.get('product')).toMatchObject({ type: 'dropdown', options: [{ label: 'Basic' }, { label: 'Pro' }, { label: 'Enterprise' }] });
      expect(byKey.get('serial_number')).toMatchObject({ type: 'regex', pattern: '^[A-Z]{2}-\\d{4}$' });
      const agents = await readAll(c, 'agent');
      for (const a of fake.agents) expect(agents.upserts.get(a.sourceId), a.sourceId).toMatchObject({ active: a.active, deleted: a.deleted, role: a.role, email: a.email });
      const articles = await readAll(c, 'kbArticle');
      for (const a of fake.kbArticles) {
        expect(articles.upserts.get(a.sourceId)).toMatchObject({ title: a.title, locale: 'en-us', draft: a.draft, sectionId: a.sectionId, translations: [{ locale: 'de', title: a.translations[0].title }] });
      }
      expect(c.recordUrl('ticket', '7')).toBe(`${sb.url}/agent/tickets/7`);
    } finally {
      await c.close();
    }
  });

  it('pages exactly at boundaries: one full page, a page boundary, one past it', async () => {
    for (const [size, pages] of [
      [TICKETS, 1],
      [TICKETS / 2, 2],
      [TICKETS - 1, 2],
    ] as const) {
      const c = connect(sb, { exportPageSize: size, ticketBatch: 1000, pageSize: 2 });
      try {
        const { envelopes, pages: got } = await readAll(c, 'ticket');
        expect(envelopes.length, `export per_page ${size}`).toBe(TICKETS);
        expect(new Set(envelopes.map((e) => e.sourceId)).size).toBe(TICKETS);
        expect(got.filter((p) => p.records.length > 0).length, `pages for per_page ${size}`).toBe(pages);
        // Small list pages: groups in pages of 2, and comments paginated too.
        const groups = await readAll(c, 'group');
        expect(groups.envelopes.length).toBe(fake.groups.length);
        expect(groups.pages.length).toBe(Math.ceil(fake.groups.length / 2));
      } finally {
        await c.close();
      }
    }
  });
});

describe('zendesk reader against an empty sandbox', () => {
  it('reads only the account owner and nothing else', async () => {
    const sb = await sandbox({ tickets: 0, seed: 9 });
    const c = connect(sb);
    try {
      for (const entity of ENTITIES) {
        const { envelopes } = await readAll(c, entity);
        expect(envelopes.length, entity).toBe(entity === 'agent' ? 1 : 0);
      }
      const owner = (await readAll(c, 'agent')).upserts.values().next().value!;
      expect(owner).toMatchObject({ role: 'admin', active: true, email: sb.credentials.email });
      expect(await c.count('ticket')).toBe(0);
      expect(await c.idRange('ticket')).toBeNull();
    } finally {
      await c.close();
      await sb.close();
    }
  });
});
