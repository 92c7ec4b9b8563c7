import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachmentContent, fakeHelpdesk, type FakeHelpdesk } from '../../../connectors/sdk/fake-helpdesk.ts';
import type { FreshdeskSandbox } from '../../../connectors/freshdesk/index.ts';
import type { Connector, WriteContext } from '../../../connectors/sdk/contract.ts';
import type { Agent, Contact, EntityName, EntityTypes, KbArticle, KbSection, Organization, Ticket } from '../../../schemas/canonical.ts';
import { project } from '../../../schemas/projection.ts';
import { mapRecord } from '../../../services/mapper/record.mapping.ts';
import type { MappingRules } from '../../../services/mapper/rules.ts';
import { connect, readAll, sandbox } from './helpers.ts';

const context = (sourceId: string, knownChildren: Record<string, string> = {}): WriteContext => ({
  stamp: `fake:${sourceId}`,
  knownChildren,
  openAttachment: async (a) => ({ body: attachmentContent(a), contentType: a.contentType }),
});

describe('freshdesk writer round trip into an empty sandbox', () => {
  let target: FreshdeskSandbox;
  let t: Connector;
  let fake: FakeHelpdesk;
  let rules: MappingRules;
  const ids: Partial<Record<EntityName, Map<string, string>>> = {};
  const expected: { entity: EntityName; targetId: string; record: EntityTypes[EntityName] }[] = [];
  let defaultAgent = '';

  const idOf = (entity: EntityName, sourceId: string | null) => (sourceId === null ? null : (ids[entity]?.get(sourceId) ?? null));
  const user = (sourceId: string | null) => idOf('agent', sourceId) ?? idOf('contact', sourceId);
  const remember = (entity: EntityName, sourceId: string, targetId: string, record: EntityTypes[EntityName]) => {
    (ids[entity] ??= new Map()).set(sourceId, targetId);
    expected.push({ entity, targetId, record });
  };

  async function load<E extends EntityName>(entity: E, records: EntityTypes[E][], resolve: (r: EntityTypes[E]) => EntityTypes[E]) {
    for (const source of records) {
      const mapped = mapRecord(entity, source, rules);
      if (mapped.kind !== 'planned') continue;
      const planned = resolve(mapped.record);
      const ref = await t.create(entity, planned, context(source.sourceId));
      remember(entity, source.sourceId, ref.targetId, planned);
    }
  }

  beforeAll(async () => {
    target = await sandbox({ tickets: 0, seed: 77 });
    t = connect(target);
    await t.check();
    rules = { capabilities: t.capabilities, skipAttachments: false, statusMap: {}, priorityMap: {}, typeMap: {} };
    fake = fakeHelpdesk({ seed: 3, tickets: 25, articles: 4, maxComments: 6 });
    defaultAgent = (await readAll(t, 'agent')).records[0].sourceId;
    await t.prepare!({ ticketFields: fake.ticketFields });
    await load('group', fake.groups, (g) => g);
    await load('agent', fake.agents, (a) => ({ ...a, groupIds: a.groupIds.map((g) => idOf('group', g)!) }));
    await load('organization', fake.organizations, (o) => o);
    await load('contact', fake.contacts, (c) => ({ ...c, organizationId: idOf('organization', c.organizationId) }));
    await load('ticketField', fake.ticketFields, (f) => f);
    await load('ticket', [...fake.tickets()], (tk) => ({
      ...tk,
      requesterId: user(tk.requesterId),
      assigneeId: tk.assigneeId === null ? null : (idOf('agent', tk.assigneeId) ?? defaultAgent),
      groupId: idOf('group', tk.groupId),
      organizationId: idOf('organization', tk.organizationId),
      comments: tk.comments.map((c) => ({ ...c, authorId: user(c.authorId) ?? defaultAgent })),
    }));
    await load('kbCategory', fake.kbCategories, (c) => c);
    await load('kbSection', fake.kbSections, (s): KbSection => ({ ...s, categoryId: idOf('kbCategory', s.categoryId)! }));
    await load('kbArticle', fake.kbArticles, (a): KbArticle => ({ ...a, sectionId: idOf('kbSection', a.sectionId)!, authorId: idOf('agent', a.authorId) ?? defaultAgent }));
  });
  afterAll(async () => {
    await t?.close();
    await target?.close();
  });

  it('reads back every record equal in every field Freshdesk preserves', async () => {
    const entities = [...new Set(expected.map((e) => e.entity))];
    expect(entities.length).toBe(9);
    for (const entity of entities) {
      const unpreserved = t.limitations.filter((l) => l.entity === entity).map((l) => l.field);
      const back = new Map((await readAll(t, entity)).records.map((r) => [r.sourceId, r]));
      for (const e of expected.filter((x) => x.entity === entity)) {
        const got = back.get(e.targetId);
        expect(got, `${entity} ${e.targetId}`).toBeDefined();
        expect(project(entity, got!.record!, unpreserved), `${entity} ${e.targetId}`).toEqual(project(entity, e.record, unpreserved));
        if ((entity === 'ticket' || entity === 'contact') && got!.op === 'upsert') expect(got!.stamp).toMatch(/^fake:/);
      }
    }
  });

  it('counts on the target are what was written (plus the account admin)', () => {
    const counts = target.counts();
    expect(counts.ticket).toBe(25);
    expect(counts.ticketField).toBe(9);
    expect(counts.agent).toBe(1 + fake.agents.filter((a) => a.active && !a.deleted).length);
    expect(counts.contact).toBe(fake.contacts.length);
  });

  it('carries attachment bytes', async () => {
    const written = expected.filter((e) => e.entity === 'ticket').find((e) => (e.record as Ticket).comments.some((c) => c.attachments.length > 0))!;
    const back = (await t.get('ticket', written.targetId))!;
    const attachment = back.comments.flatMap((c) => c.attachments)[0];
    const original = (written.record as Ticket).comments.flatMap((c) => c.attachments).find((a) => a.fileName === attachment.fileName)!;
    expect((await t.openAttachment(attachment)).body).toEqual(attachmentContent(original));
  });

  it('update replaces fields and appends only comments it has not written', async () => {
    const written = expected.find((e) => e.entity === 'ticket')!;
    const before = (await t.get('ticket', written.targetId))!;
    const record = written.record as Ticket;
    const children = Object.fromEntries(record.comments.map((c, i) => [c.sourceId, before.comments[i].sourceId]));
    const extra = { sourceId: 'new-1', authorId: record.requesterId, body: '<p>one more</p>', public: true, createdAt: '2026-06-02T00:00:00Z', attachments: [] };
    const updated: Ticket = { ...record, subject: 'Changed subject', tags: ['changed'], comments: [...record.comments, extra] };
    const ref = await t.update('ticket', written.targetId, updated, context(record.sourceId, children));
    const after = (await t.get('ticket', written.targetId))!;
    expect(after.subject).toBe('Changed subject');
    expect(after.tags).toEqual(['changed']);
    expect(after.comments.length).toBe(before.comments.length + 1);
    expect(after.comments[after.comments.length - 1].body).toBe('<p>one more</p>');
    expect(ref.children!['new-1']).toBe(after.comments[after.comments.length - 1].sourceId);
    // Same again: nothing new to append.
    await t.update('ticket', written.targetId, updated, context(record.sourceId, ref.children));
    expect((await t.get('ticket', written.targetId))!.comments.length).toBe(after.comments.length);
  });

  it('finds a record by its stamp after a crash between create and id-map write', async () => {
    const tk = expected.filter((e) => e.entity === 'ticket')[3];
    const source = fake.ticket(3);
    expect(await t.find('ticket', tk.record as Ticket, `fake:${source.sourceId}`)).toEqual({ targetId: tk.targetId });
    expect(await t.find('ticket', tk.record as Ticket, 'fake:does-not-exist')).toBeNull();
    const contact = expected.find((e) => e.entity === 'contact')!;
    const sourceContact = fake.contacts[0];
    expect(await t.find('contact', { ...(contact.record as Contact), email: null, phone: null }, `fake:${sourceContact.sourceId}`)).toEqual({ targetId: contact.targetId });
    const agent = expected.find((e) => e.entity === 'agent')!;
    expect(await t.find('agent', agent.record as Agent, '')).toEqual({ targetId: agent.targetId });
    const org = expected.find((e) => e.entity === 'organization')!;
    expect(await t.find('organization', org.record as Organization, '')).toEqual({ targetId: org.targetId });
    // A create that races an existing company name lands on that company.
    expect(await t.create('organization', org.record as Organization, context('dupe'))).toEqual({ targetId: org.targetId });
  });

  it('a requester without an email is not dropped with its tickets: created by its unique_external_id, found again by it', async () => {
    const contact: Contact = { ...fake.contacts[1], sourceId: 'nobody-1', email: null, phone: null, organizationId: null };
    const ref = await t.create('contact', contact, context('nobody-1'));
    const back = (await t.get('contact', ref.targetId)) as Contact;
    expect(project('contact', back)).toEqual(project('contact', contact));
    expect(await t.find('contact', contact, 'fake:nobody-1')).toEqual({ targetId: ref.targetId });
    const source = fake.ticket(0);
    const ticket: Ticket = {
      ...source,
      sourceId: 'nobody-ticket',
      requesterId: ref.targetId,
      assigneeId: null,
      groupId: null,
      organizationId: null,
      customFields: {},
      comments: source.comments.slice(0, 1).map((c) => ({ ...c, authorId: ref.targetId, attachments: [] })),
    };
    const planned = mapRecord('ticket', ticket, rules);
    if (planned.kind !== 'planned') throw new Error('filtered');
    const created = await t.create('ticket', planned.record, context('nobody-ticket'));
    expect(((await t.get('ticket', created.targetId)) as Ticket).requesterId).toBe(ref.targetId);
  });

  it('rejects a contact with neither email, phone nor a stamp to identify it by, naming record and field', async () => {
    const contact: Contact = { ...fake.contacts[1], sourceId: 'nobody-2', email: null, phone: null, organizationId: null };
    const err = await t.create('contact', contact, { ...context('nobody-2'), stamp: '' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'INVALID_RECORD', context: { entity: 'contact', recordId: 'nobody-2', field: 'email' } });
    expect(String((err as Error).message)).toContain('nobody-2');
  });

  // Create a Ticket: "The total size of these attachments cannot exceed 20MB"; Create a Note: "The total
  // size of all the ticket's attachments (not just this note) cannot exceed 20MB". Regression: the writer
  // carried a comment's overflow in continuation notes, which the documented limit refuses on the ticket.
  it('carries attachments up to 20 MB per ticket and names each one left out in the comment that held it', async () => {
    const MB = 1024 * 1024;
    const source = fake.ticket(0);
    const files = [10 * MB, ...Array.from({ length: 15 }, () => Math.round(1.1 * MB))].map((size, i) => ({
      sourceId: `big-file-${i}`, fileName: `scan-${i}.pdf`, contentType: 'application/pdf', size, url: '', inline: false,
    }));
    const later = { sourceId: 'late-file', fileName: 'late <notes>.txt', contentType: 'text/plain', size: 2 * MB, url: '', inline: false };
    const ticket: Ticket = {
      ...source,
      sourceId: 'big-1',
      requesterId: user(source.requesterId),
      assigneeId: null,
      groupId: null,
      organizationId: idOf('organization', source.organizationId),
      customFields: {},
      comments: [
        { ...source.comments[0], authorId: user(source.comments[0].authorId), attachments: files },
        { ...source.comments[0], sourceId: 'big-1-c1', body: '<p>later</p>', authorId: user(source.comments[0].authorId), attachments: [later] },
      ],
    };
    const planned = mapRecord('ticket', ticket, rules);
    if (planned.kind !== 'planned') throw new Error('filtered');
    const ref = await t.create('ticket', planned.record, context('big-1'));
    const back = (await t.get('ticket', ref.targetId)) as Ticket;
    const carried = back.comments.flatMap((c) => c.attachments);
    const total = carried.reduce((sum, a) => sum + a.size, 0);
    expect(total).toBeLessThanOrEqual(20 * MB);
    // Everything up to the limit, in order: the 10 MB file and nine of 1.1 MB.
    expect(carried.map((a) => a.fileName)).toEqual(files.slice(0, 10).map((f) => f.fileName));
    // Each file left out is named in the comment that held it: no continuation notes.
    expect(back.comments).toHaveLength(2);
    for (const f of files.slice(10)) expect(back.comments[0].body).toContain(`${f.fileName} (1.1 MB)`);
    expect(back.comments[1].body).toContain('late &lt;notes&gt;.txt (2.0 MB)');
    expect(back.comments[1].body).toContain('Attachments not carried');

    // One file over the limit is left out and named, and the ticket still arrives.
    const huge = { ...files[0], sourceId: 'huge-file', fileName: 'disk-image.iso', size: 21 * MB };
    const tooBig = mapRecord('ticket', { ...ticket, sourceId: 'big-2', comments: [{ ...ticket.comments[0], attachments: [huge] }] }, rules);
    if (tooBig.kind !== 'planned') throw new Error('filtered');
    const opened: string[] = [];
    const hugeRef = await t.create('ticket', tooBig.record, { ...context('big-2'), openAttachment: async (a) => (opened.push(a.sourceId), { body: attachmentContent(a), contentType: a.contentType }) });
    expect(opened).toEqual([]);
    const hugeBack = (await t.get('ticket', hugeRef.targetId)) as Ticket;
    expect(hugeBack.comments.flatMap((c) => c.attachments)).toEqual([]);
    expect(hugeBack.comments[0].body).toContain('disk-image.iso (21.0 MB)');
  });

  it('deletes what it created', async () => {
    const group = await t.create('group', { sourceId: 'g-x', name: 'Temporary', description: null, createdAt: '', updatedAt: '' }, context('g-x'));
    await t.delete('group', group.targetId);
    expect(await t.get('group', group.targetId)).toBeNull();
  });
});

// Two writers on one account stand for two cluster loaders: each creates some of the agents.
describe('freshdesk writer beside another writer on the same account', () => {
  let target: FreshdeskSandbox;
  afterAll(() => target?.close());

  // Regression: a writer fetched the account's agents at its first agent create, while the other loader
  // was still creating agents; notes by those agents were then written as `incoming` (from a customer).
  it('writes a note by an agent the other writer created as an agent note, and a customer note as incoming', async () => {
    target = await sandbox({ tickets: 0, seed: 78 });
    const [mine, theirs] = [connect(target), connect(target)];
    await Promise.all([mine.prepare!({ ticketFields: [] }), theirs.prepare!({ ticketFields: [] })]);
    const agent = (sourceId: string): Agent => ({
      sourceId,
      name: `Agent ${sourceId}`,
      email: `${sourceId}@support.example.com`,
      role: 'agent',
      active: true,
      deleted: false,
      groupIds: [],
      timeZone: null,
      createdAt: '2025-01-01T00:00:00Z',
      updatedAt: '2025-01-01T00:00:00Z',
    });
    await mine.create('agent', agent('a-mine'), context('a-mine'));
    const other = await theirs.create('agent', agent('a-theirs'), context('a-theirs'));
    const customer = await mine.create(
      'contact',
      { sourceId: 'c-1', name: 'Customer', email: 'customer@example.org', phone: null, organizationId: null, tags: [], customFields: {}, timeZone: null, createdAt: '2025-01-01T00:00:00Z', updatedAt: '2025-01-01T00:00:00Z' } as Contact,
      context('c-1'),
    );
    const comment = (sourceId: string, authorId: string) => ({ sourceId, authorId, body: `<p>${sourceId}</p>`, public: true, createdAt: '2025-01-02T00:00:00Z', attachments: [] });
    const ticket: Ticket = {
      sourceId: 't-1',
      subject: 'Two loaders',
      status: 'open',
      priority: 'normal',
      type: null,
      requesterId: customer.targetId,
      assigneeId: null,
      groupId: null,
      organizationId: null,
      tags: [],
      customFields: {},
      createdAt: '2025-01-02T00:00:00Z',
      updatedAt: '2025-01-02T00:00:00Z',
      comments: [comment('d', customer.targetId), comment('by-agent', other.targetId), comment('by-customer', customer.targetId)],
    };
    const written = await mine.create('ticket', ticket, context('t-1'));
    const res = await fetch(`${target.url}/api/v2/tickets/${written.targetId}/conversations`, {
      headers: { authorization: `Basic ${Buffer.from(`${target.credentials.apiKey}:X`).toString('base64')}` },
    });
    const notes = (await res.json()) as { body: string; user_id: number; incoming: boolean }[];
    expect(notes.map((n) => [n.body, n.user_id, n.incoming])).toEqual([
      ['<p>by-agent</p>', Number(other.targetId), false],
      ['<p>by-customer</p>', Number(customer.targetId), true],
    ]);
  });
});
