import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rt } from '../../../connectors/rt/index.ts';
import type { Connector, StreamState } from '../../../connectors/sdk/contract.ts';
import { attachmentContent, fakeHelpdesk } from '../../../connectors/sdk/fake-helpdesk.ts';
import type { RunningSandbox } from '../../../connectors/sdk/platform.ts';
import type { Contact, EntityName, Envelope, Ticket } from '../../../schemas/canonical.ts';
import { project } from '../../../schemas/projection.ts';
import { RT_TARGET_STATUSES, STATUS_TO_RT } from '../../../connectors/rt/rt.mapping.ts';

// A real RT 5 server, seeded through REST2 from the fake helpdesk (seed 6: attachments, an inline
// image, private notes and requesters without email).
const SEED = 6;
const TICKETS = 8;
let sb: RunningSandbox;
let c: Connector;
const helpdesk = fakeHelpdesk({ seed: SEED, tickets: TICKETS, articles: 0, maxComments: 6 });

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
  sb = await rt.startSandbox({ tickets: TICKETS, seed: SEED });
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
    for (const entity of ['group', 'agent', 'contact', 'ticketField', 'ticket'] as const) {
      const { records } = await readAll(entity);
      expect(records.length, entity).toBe(counts[entity]);
      expect(new Set(records.map((r) => r.sourceId)).size, `${entity} ids unique`).toBe(records.length);
    }
    expect(await c.count?.('ticket')).toBe(TICKETS);
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
    const cursor = first.state!.cursor!;
    for (const e of resumed.records) expect(e.updatedAt >= cursor).toBe(true);
    // Besides the updated ticket, only tickets at the cursor's own instant come again (overlap 0).
    for (const e of resumed.records) if (e.sourceId !== target.sourceId) expect(e.updatedAt).toBe(cursor);
    const updated = resumed.records.find((e) => e.sourceId === target.sourceId)!.record as Ticket;
    expect(updated.comments.at(-1)).toMatchObject({ public: false, body: '<p>resume probe</p>' });
    expect(resumed.state!.cursor! > cursor).toBe(true);
    // Caught up: reading again from the new state gives only what sits at its instant.
    const again = await readAll('ticket', resumed.state, 0);
    expect(again.records.map((e) => e.sourceId)).toEqual([target.sourceId]);
  });
});
