import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rt } from '../../../connectors/rt/index.ts';
import type { Connector, ListedTicket, StreamState } from '../../../connectors/sdk/contract.ts';
import { attachmentContent, fakeHelpdesk } from '../../../connectors/sdk/fake-helpdesk.ts';
import type { RunningSandbox } from '../../../connectors/sdk/platform.ts';
import type { Agent, Contact, EntityName, Envelope, KbArticle, KbCategory, KbSection, Ticket } from '../../../schemas/canonical.ts';
import { htmlText, project } from '../../../schemas/projection.ts';
import { RT_TARGET_STATUSES, STATUS_TO_RT } from '../../../connectors/rt/rt.mapping.ts';

// A real RT 5 server, seeded through REST2 from the fake helpdesk (seed 6: attachments, an inline
// image, private notes and requesters without email).
const SEED = 6;
const TICKETS = 8;
const ARTICLES = 5;
let sb: RunningSandbox;
let c: Connector;
const helpdesk = fakeHelpdesk({ seed: SEED, tickets: TICKETS, articles: ARTICLES, maxComments: 6 });

async function readAll<E extends EntityName>(entity: E, state: StreamState | null = null, overlapSeconds?: number) {
  const records: Envelope<E>[] = [];
  let last: StreamState | null = state;
  for await (const page of c.read(entity, state, { overlapSeconds })) {
    records.push(...page.records);
    last = page.state;
  }
  return { records, state: last };
}

beforeAll(async () => {
  sb = await rt.startSandbox({ tickets: TICKETS, seed: SEED, articles: ARTICLES });
  c = rt.createConnector({ url: sb.url, credentials: sb.credentials });
});
afterAll(async () => {
  await c?.close();
  await sb?.close();
});

describe('RT reader over a seeded RT', () => {
  it('reads as many records per entity as RT holds', async () => {
    const counts = sb.counts();
    expect(counts.ticket).toBe(TICKETS);
    expect(counts.contact).toBe(helpdesk.contacts.length);
    // every agent but the deleted one, plus RT's root
    expect(counts.agent).toBe(helpdesk.agents.length - 1 + 1);
    // the stock General class and one class per seeded category
    expect(counts.kbCategory).toBe(1 + helpdesk.kbCategories.length);
    expect(counts.kbArticle).toBe(ARTICLES);
    for (const entity of ['group', 'agent', 'contact', 'ticketField', 'ticket', 'kbCategory', 'kbSection', 'kbArticle'] as const) {
      const { records } = await readAll(entity);
      expect(records.length, entity).toBe(counts[entity]);
      expect(new Set(records.map((r) => r.sourceId)).size, `${entity} ids unique`).toBe(records.length);
    }
    expect(await c.count?.('ticket')).toBe(TICKETS);
    const ids = (await readAll('ticket')).records.map((t) => Number(t.sourceId));
    expect(await c.idRange!('ticket')).toEqual({ lowest: Math.min(...ids), highest: Math.max(...ids) });
    expect(await c.idRange!('contact')).toBeNull();
  });

  it('reads tickets with their transactions, visibility, attachments, fields and people', async () => {
    const [{ records }, { records: contacts }, { records: fields }] = await Promise.all([readAll('ticket'), readAll('contact'), readAll('ticketField')]);
    expect(fields.map((f) => (f.record as { key: string }).key).sort()).toEqual(helpdesk.ticketFields.map((f) => f.key).sort());
    const contactById = new Map(contacts.map((e) => [e.sourceId, e.record as Contact]));
    const read = records.map((e) => e.record as Ticket);
    const ignore = ['requesterId', 'assigneeId', 'groupId', 'organizationId', 'comments.authorId', 'comments.createdAt'];
    let attachments = 0;
    for (const source of helpdesk.tickets()) {
      const found = read.filter((t) => t.subject === source.subject && t.createdAt === source.createdAt);
      expect(found, `ticket ${source.sourceId}`).toHaveLength(1);
      const got = found[0];
      const status = RT_TARGET_STATUSES.includes(source.status) ? source.status : source.status === 'hold' ? 'pending' : 'solved';
      expect(STATUS_TO_RT[status]).toBeTruthy();
      expect(project('ticket', got, ignore)).toEqual(project('ticket', { ...source, status }, ignore));
      // The requester is the same person (phone-only contacts included).
      const wanted = helpdesk.contacts.find((p) => p.sourceId === source.requesterId)!;
      const requester = contactById.get(got.requesterId!)!;
      expect(requester.name).toBe(wanted.name);
      expect(requester.email).toBe(wanted.email);
      for (const [i, comment] of got.comments.entries()) {
        for (const [j, a] of comment.attachments.entries()) {
          attachments += 1;
          const file = await c.openAttachment(a);
          expect(Buffer.from(file.body).equals(Buffer.from(attachmentContent(source.comments[i].attachments[j])))).toBe(true);
        }
      }
    }
    expect(attachments).toBe(7);
    const comments = read.flatMap((t) => t.comments);
    expect(comments.filter((x) => !x.public).length).toBeGreaterThan(0);
    expect(comments.filter((x) => x.attachments.some((a) => a.inline)).length).toBe(1);
    expect(read.some((t) => contactById.get(t.requesterId!)?.email === null)).toBe(true);
  });

  it('resumes from a saved state: only tickets updated since, plus the overlap window', async () => {
    const first = await readAll('ticket');
    expect(first.state?.cursor).toBeTruthy();
    const all = first.records.map((e) => e.record as Ticket);
    const target = all[0];
    // Update one ticket after the cursor: RT's clock moves on by at least a second.
    await new Promise((r) => setTimeout(r, 1100));
    const conn = c as unknown as { client: { post(path: string, json: unknown): Promise<unknown> } };
    await conn.client.post(`ticket/${target.sourceId}/comment`, { Content: '<p>resume probe</p>', ContentType: 'text/html' });
    const resumed = await readAll('ticket', first.state, 0);
    const ids = resumed.records.map((e) => e.sourceId);
    expect(ids).toContain(target.sourceId);
    const covered = first.state!.coveredUntil!;
    // The cursor names the instant reached and the IDs read at it: with overlap 0 nothing read before
    // comes again, only the ticket updated since.
    expect(JSON.parse(first.state!.cursor!)).toMatchObject({ v: 1, at: covered });
    expect(ids).toEqual([target.sourceId]);
    const updated = resumed.records.find((e) => e.sourceId === target.sourceId)!.record as Ticket;
    expect(updated.comments.at(-1)).toMatchObject({ public: false, body: '<p>resume probe</p>' });
    expect(resumed.state!.coveredUntil! > covered).toBe(true);
    // Caught up: reading again from the new state gives nothing new.
    const again = await readAll('ticket', resumed.state, 0);
    expect(again.records).toEqual([]);
    // A cursor saved before RT cursors were JSON (the bare instant) still resumes: its whole second again.
    const legacy = await readAll('ticket', { cursor: covered, coveredUntil: covered }, 0);
    for (const e of legacy.records) expect(e.updatedAt >= covered).toBe(true);
    expect(legacy.records.map((e) => e.sourceId)).toContain(target.sourceId);
    await expect(readAll('ticket', { cursor: 'not a cursor', coveredUntil: covered }, 0)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('leaves out the tickets a read does not want (ReadOptions.only) before it asks RT for their history or attachments', async () => {
    const all = await readAll('ticket');
    const read = async (only: (t: ListedTicket) => boolean) => {
      const before = sb.requestsServed();
      const records: Envelope<'ticket'>[] = [];
      let state: StreamState | null = null;
      for await (const page of c.read('ticket', null, { only })) {
        records.push(...page.records);
        state = page.state;
      }
      return { records, state, requests: sb.requestsServed() - before };
    };
    const asked: ListedTicket[] = [];
    const none = await read((t) => (asked.push(t), false));
    expect(none.records).toEqual([]);
    expect(none.state).toEqual(all.state);
    // Asked of every listed ticket, with the status and time its full record has.
    const full = new Map(all.records.map((e) => [e.sourceId, e.record as Ticket]));
    expect(asked.map((t) => t.sourceId).sort()).toEqual([...full.keys()].sort());
    for (const t of asked) expect({ status: t.status, at: Date.parse(t.updatedAt) }).toEqual({ status: full.get(t.sourceId)!.status, at: Date.parse(full.get(t.sourceId)!.updatedAt) });
    // The ticket search's pages alone: no ticket, history or attachment request.
    expect(none.requests).toBeLessThanOrEqual(2);

    const open = await read((t) => t.status === 'open');
    const expected = all.records.filter((e) => (e.record as Ticket).status === 'open');
    expect(expected.length, 'the seed has open tickets and others').toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(TICKETS);
    expect(open.records.map((e) => e.sourceId).sort()).toEqual(expected.map((e) => e.sourceId).sort());
    expect(open.records).toEqual(expect.arrayContaining(expected));
    expect(open.requests).toBeGreaterThanOrEqual(none.requests + 3 * expected.length);
  });

  it('reads RT Articles as a KB: a class is a category with one section, Content is the body', async () => {
    const [{ records: categories }, { records: sections }, { records: articles }, { records: agents }] = await Promise.all([
      readAll('kbCategory'),
      readAll('kbSection'),
      readAll('kbArticle'),
      readAll('agent'),
    ]);
    const categoryById = new Map(categories.map((e) => [e.sourceId, e.record as KbCategory]));
    for (const e of sections) {
      const section = e.record as KbSection;
      expect(section.categoryId).toBe(section.sourceId);
      expect(section.name).toBe(categoryById.get(section.categoryId)!.name);
    }
    const agentByEmail = new Map(agents.map((e) => [(e.record as Agent).email, e.sourceId]));
    const read = articles.map((e) => e.record as KbArticle);
    for (const source of helpdesk.kbArticles) {
      const got = read.find((a) => a.title === source.title);
      expect(got, source.title).toBeDefined();
      const sourceSection = helpdesk.kbSections.find((s) => s.sourceId === source.sectionId)!;
      const sourceCategory = helpdesk.kbCategories.find((k) => k.sourceId === sourceSection.categoryId)!;
      expect(categoryById.get(got!.sectionId)?.name).toBe(sourceCategory.name);
      // Text content comes back line by line as HTML paragraphs; the words are the source's.
      expect(htmlText(got!.body)).toBe(htmlText(source.body));
      expect(got!.body.startsWith('<p>')).toBe(true);
      expect(got!.createdAt).toBe(source.createdAt);
      expect(got!.updatedAt).toBe(source.updatedAt);
      const author = helpdesk.agents.find((a) => a.sourceId === source.authorId)!;
      expect(got!.authorId).toBe(agentByEmail.get(author.email));
      expect(got!).toMatchObject({ locale: 'en-us', draft: false, tags: [], translations: [], position: source.position });
      expect(await c.get('kbArticle', got!.sourceId)).toEqual(got);
    }
    // A disabled (deleted) article is gone from reads and from get.
    const gone = read[0];
    const conn = c as unknown as { client: { delete(path: string): Promise<void> } };
    await conn.client.delete(`article/${gone.sourceId}`);
    expect(await c.get('kbArticle', gone.sourceId)).toBeNull();
    expect((await readAll('kbArticle')).records.map((e) => e.sourceId)).not.toContain(gone.sourceId);
  });
});
