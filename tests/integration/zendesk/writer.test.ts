import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HdmError } from '../../../schemas/errors.ts';
import type { ZendeskConnector, ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { LOAD_ORDER, type Contact, type EntityName, type EntityTypes, type Organization, type Ticket } from '../../../schemas/canonical.ts';
import { ZendeskClient } from '../../../connectors/zendesk/zendesk.client.ts';
import { ImportBatcher } from '../../../connectors/zendesk/zendesk.imports.ts';
import { connect, context, migrate, type Migration, projection, readAll, resolve, sandbox } from './helpers.ts';

// Integration: a seeded source sandbox written through the writer into an empty target sandbox.
describe('zendesk writer round trip', () => {
  let source: ZendeskSandbox;
  let target: ZendeskSandbox;
  let src: ZendeskConnector;
  let dst: ZendeskConnector;
  let m: Migration;

  beforeAll(async () => {
    source = await sandbox({ tickets: 30, seed: 11, articles: 4, maxComments: 8 });
    target = await sandbox({ tickets: 0, seed: 12, immediateExports: 'The target is read back through its exports right after the writes' });
    src = connect(source);
    dst = connect(target);
    m = await migrate(src, dst);
  });
  afterAll(async () => {
    await Promise.allSettled([src?.close(), dst?.close()]);
    await Promise.allSettled([source?.close(), target?.close()]);
  });

  it('creates each entity so that reading it back gives the same canonical content', async () => {
    for (const entity of LOAD_ORDER) {
      const back = await readAll(dst, entity);
      const written = m.ids[entity];
      expect(written.size, entity).toBeGreaterThan(0);
      for (const [sourceId, targetId] of written) {
        const original = m.source.get(entity)!.get(sourceId)!;
        const expected = projection(dst, entity, resolve(entity, original as EntityTypes[EntityName], m.ids, m.defaultAgent));
        const actual = back.upserts.get(targetId);
        expect(actual, `${entity} ${sourceId} → ${targetId}`).toBeDefined();
        expect(projection(dst, entity, actual!), `${entity} ${sourceId}`).toEqual(expected);
        if (['ticket', 'contact', 'organization', 'agent'].includes(entity)) {
          expect(back.envelopes.find((e) => e.sourceId === targetId)?.op === 'upsert' && (back.envelopes.find((e) => e.sourceId === targetId) as { stamp?: string }).stamp).toBe(`zendesk:${sourceId}`);
        }
      }
    }
    // The import API kept what the ticket API cannot: comment times, authors, visibility, attachments.
    const [sourceId, targetId] = [...m.ids.ticket].find(([id]) => (m.source.get('ticket')!.get(id) as Ticket).comments.some((c) => c.attachments.length > 0))!;
    const original = m.source.get('ticket')!.get(sourceId) as Ticket;
    const copy = (await dst.get('ticket', targetId))!;
    expect(copy.comments.map((c) => c.createdAt)).toEqual(original.comments.map((c) => c.createdAt));
    expect(copy.createdAt).toBe(original.createdAt);
    const a = original.comments.flatMap((c) => c.attachments)[0];
    const b = copy.comments.flatMap((c) => c.attachments)[0];
    expect(Buffer.from((await dst.openAttachment(b)).body).equals(Buffer.from((await src.openAttachment(a)).body))).toBe(true);
    expect(Object.keys(m.children.get(sourceId)!)).toEqual(original.comments.map((c) => c.sourceId));
    // Counts: exactly what was written, plus the target's own account owner.
    const counts = target.counts();
    expect(counts.ticket).toBe(m.ids.ticket.size);
    expect(counts.agent).toBe(m.ids.agent.size + 1);
    expect(counts.ticketField).toBe(m.ids.ticketField.size);
  });

  it('update appends only the comments the target lacks and replaces fields', async () => {
    const [sourceId, targetId] = [...m.ids.ticket].find(([id]) => (m.source.get('ticket')!.get(id) as Ticket).status !== 'closed')!;
    const before = (await dst.get('ticket', targetId))!;
    source.addComment(Number(sourceId), { html_body: '<p>A reply written after the first run</p>', public: false, author_id: Number(m.source.get('ticket')!.get(sourceId) && (m.source.get('ticket')!.get(sourceId) as Ticket).requesterId) });
    source.updateTicket(Number(sourceId), { tags: ['after_first_run'], priority: 'urgent' });
    const fresh = (await src.get('ticket', sourceId))!;
    const planned = resolve('ticket', fresh, m.ids, m.defaultAgent);
    const ref = await dst.update('ticket', targetId, planned, context(src, sourceId, m.children.get(sourceId)!));
    const after = (await dst.get('ticket', targetId))!;
    expect(after.comments.length).toBe(before.comments.length + 1);
    expect(after.comments.at(-1)).toMatchObject({ public: false, body: '<p>A reply written after the first run</p>' });
    expect(after.priority).toBe('urgent');
    expect(after.tags).toEqual(['after_first_run']);
    expect(Object.keys(ref.children!)).toEqual(fresh.comments.map((c) => c.sourceId));
    expect(ref.children![fresh.comments.at(-1)!.sourceId]).toBe(after.comments.at(-1)!.sourceId);
    // Same record again: nothing more to append.
    await dst.update('ticket', targetId, planned, context(src, sourceId, ref.children));
    expect((await dst.get('ticket', targetId))!.comments.length).toBe(after.comments.length);
  });

  it('a closed ticket is left alone when it matches and rejected, with its record, when it would change', async () => {
    const [sourceId, targetId] = [...m.ids.ticket].find(([id]) => (m.source.get('ticket')!.get(id) as Ticket).status === 'closed')!;
    const original = resolve('ticket', m.source.get('ticket')!.get(sourceId) as Ticket, m.ids, m.defaultAgent);
    await expect(dst.update('ticket', targetId, original, context(src, sourceId, m.children.get(sourceId)!))).resolves.toMatchObject({ targetId });
    const extra = { ...original, comments: [...original.comments, { ...original.comments[0], sourceId: 'new-1' }] };
    const err = await dst.update('ticket', targetId, extra, context(src, sourceId, m.children.get(sourceId)!)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HdmError);
    expect(err).toMatchObject({ code: 'REJECTED', context: { entity: 'ticket', recordId: sourceId } });
  });

  it('find() by stamp after a crash returns the record already created instead of a second one', async () => {
    const ticket = m.source.get('ticket')!.values().next().value as Ticket;
    const planned = resolve('ticket', { ...ticket, sourceId: 'crash-1' }, m.ids, m.defaultAgent);
    const before = target.counts().ticket;
    const created = await dst.create('ticket', planned, context(src, 'crash-1'));
    // The process dies here, before its id map knows `created`; the next run asks the target first.
    const found = await dst.find('ticket', planned, 'zendesk:crash-1');
    expect(found?.targetId).toBe(created.targetId);
    expect(target.counts().ticket).toBe(before + 1);

    const contact = { ...(m.source.get('contact')!.values().next().value as Contact), sourceId: 'crash-2', email: 'crash-2@example.net' };
    const c1 = await dst.create('contact', resolve('contact', contact, m.ids, m.defaultAgent), context(src, 'crash-2'));
    expect(await dst.find('contact', contact, 'zendesk:crash-2')).toEqual({ targetId: c1.targetId });
    // Without a stamp (a record made by hand) agents and contacts are found by email.
    expect(await dst.find('contact', contact, '')).toEqual({ targetId: c1.targetId });
    const org = { ...(m.source.get('organization')!.values().next().value as Organization), sourceId: 'crash-3', name: 'Crash Org' };
    const o1 = await dst.create('organization', org, context(src, 'crash-3'));
    expect(await dst.find('organization', org, 'zendesk:crash-3')).toEqual({ targetId: o1.targetId });
    expect(await dst.find('organization', org, 'zendesk:nobody')).toEqual({ targetId: o1.targetId }); // by name
    for (const entity of ['group', 'ticketField', 'kbCategory', 'kbSection', 'kbArticle'] as const) {
      const [sourceId, targetId] = [...m.ids[entity]][0];
      const record = resolve(entity, m.source.get(entity)!.get(sourceId)! as EntityTypes[typeof entity], m.ids, m.defaultAgent);
      expect(await dst.find(entity, record, `zendesk:${sourceId}`), entity).toEqual({ targetId });
    }
  });

  it('tickets created at the same time share create_many import jobs; a ticket the job refuses fails alone', async () => {
    const routes = () => target.requestsByRoute();
    const before = routes();
    const originals = [...m.source.get('ticket')!.values()].slice(0, 12) as Ticket[];
    const planned = originals.map((t, i) => resolve('ticket', { ...t, sourceId: `batch-${i}`, comments: i === 5 ? [] : t.comments }, m.ids, m.defaultAgent));
    const settled = await Promise.allSettled(planned.map((t) => dst.create('ticket', t, context(src, t.sourceId))));
    // The one without a single comment has no description, which Zendesk's import refuses.
    const refused = settled[5];
    expect(refused.status).toBe('rejected');
    expect((refused as PromiseRejectedResult).reason).toMatchObject({ code: 'REJECTED', context: { entity: 'ticket', recordId: 'batch-5' } });
    const created = settled.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, ref: r.value }] : []));
    expect(created).toHaveLength(11);
    expect(new Set(created.map((c) => c.ref.targetId)).size).toBe(11);
    for (const { i, ref } of created) {
      const back = (await dst.get('ticket', ref.targetId))!;
      expect(back.subject).toBe(planned[i].subject);
      expect(Object.keys(ref.children!)).toEqual(planned[i].comments.map((c) => c.sourceId));
      expect(await dst.find('ticket', planned[i], `zendesk:batch-${i}`)).toMatchObject({ targetId: ref.targetId });
    }
    const after = routes();
    const delta = (route: string) => (after[route] ?? 0) - (before[route] ?? 0);
    expect(delta('POST /api/v2/imports/tickets')).toBe(0);
    const jobs = delta('POST /api/v2/imports/tickets/create_many');
    expect(jobs).toBeGreaterThanOrEqual(1);
    expect(jobs).toBeLessThan(6);
    const polls = Object.keys(after).filter((r) => r.startsWith('GET /api/v2/job_statuses/')).reduce((n, r) => n + delta(r), 0);
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(polls).toBeLessThanOrEqual(jobs);
  });

  // Issue: a new contact cost three requests (a search by stamp, a search by email, a create).
  // Source: Zendesk docs, "Users" → "Create Or Update User" (matched by email or external ID; 200 updated, 201 created).
  it('writes a contact with one create_or_update: created once, then matched by its stamp or by the email of a user made by hand', async () => {
    const routes = () => target.requestsByRoute();
    const before = routes();
    const original = m.source.get('contact')!.values().next().value as Contact;
    const contact = resolve('contact', { ...original, sourceId: 'upsert-1', email: 'upsert-1@example.net', name: 'First Name' }, m.ids, m.defaultAgent);
    const first = await dst.upsert!('contact', contact, context(src, 'upsert-1'));
    expect(first).toMatchObject({ created: true });
    const again = await dst.upsert!('contact', { ...contact, name: 'Second Name' }, context(src, 'upsert-1'));
    expect(again).toEqual({ ref: first!.ref, created: false });
    expect(target.store.users.get(Number(first!.ref.targetId))).toMatchObject({ name: 'Second Name', external_id: 'zendesk:upsert-1' });
    const byHand = target.store.applyUser({ name: 'Made by hand', email: 'by-hand@example.net' }, null);
    const matched = await dst.upsert!('contact', { ...contact, sourceId: 'upsert-2', email: 'by-hand@example.net' }, context(src, 'upsert-2'));
    expect(matched).toEqual({ ref: { targetId: String(byHand.id) }, created: false });
    expect(target.store.users.get(byHand.id)?.external_id).toBe('zendesk:upsert-2');
    const after = routes();
    const delta = (route: string) => (after[route] ?? 0) - (before[route] ?? 0);
    expect(delta('POST /api/v2/users/create_or_update')).toBe(3);
    expect(delta('GET /api/v2/users/search')).toBe(0);
    expect(delta('POST /api/v2/users')).toBe(0);
    // Entities without such a request go through find() and create().
    expect(await dst.upsert!('group', m.source.get('group')!.values().next().value as EntityTypes['group'], context(src, 'upsert-3'))).toBeNull();
  });

  // Source: Zendesk docs, "Organizations" → "Create Or Update Organization" (identified by ID or external ID,
  // not by name; organization names are unique).
  it('writes an organization with one create_or_update, matched by its stamp; one made by hand under its name is adopted', async () => {
    const routes = () => target.requestsByRoute();
    const before = routes();
    const org = { ...(m.source.get('organization')!.values().next().value as Organization), sourceId: 'org-upsert-1', name: 'Upserted Org' };
    const first = await dst.upsert!('organization', org, context(src, 'org-upsert-1'));
    expect(first).toMatchObject({ created: true });
    const again = await dst.upsert!('organization', { ...org, notes: 'changed' }, context(src, 'org-upsert-1'));
    expect(again).toEqual({ ref: first!.ref, created: false });
    expect(target.store.organizations.get(Number(first!.ref.targetId))).toMatchObject({ notes: 'changed', external_id: 'zendesk:org-upsert-1' });
    const byHand = target.store.applyOrganization({ name: 'Hand Made Org' }, null);
    const adopted = await dst.upsert!('organization', { ...org, sourceId: 'org-upsert-2', name: 'Hand Made Org' }, context(src, 'org-upsert-2'));
    expect(adopted).toEqual({ ref: { targetId: String(byHand.id) }, created: false });
    expect(target.store.organizations.get(byHand.id)?.external_id).toBe('zendesk:org-upsert-2');
    const after = routes();
    const delta = (route: string) => (after[route] ?? 0) - (before[route] ?? 0);
    expect(delta('POST /api/v2/organizations/create_or_update')).toBe(3);
    expect(delta('POST /api/v2/organizations')).toBe(0);
  });

  // Issue: each import job was polled on its own, so jobs in flight together cost a status read each.
  // Source: Zendesk docs, "Job Statuses" → "Show Many Job Statuses" (`ids`, comma-separated).
  it('reads the statuses of the import jobs in flight together, in one request', async () => {
    const client = new ZendeskClient({ url: target.url, credentials: target.credentials });
    const batcher = new ImportBatcher(client, { batchSize: 3 });
    const requester = [...target.store.users.values()].find((u) => u.role === 'end-user')!.id;
    const before = target.requestsByRoute();
    const ids = await Promise.all(
      Array.from({ length: 12 }, (_, i) => batcher.import({ subject: `shared status read ${i}`, description: 'Hello', requester_id: requester }, `shared-${i}`)),
    );
    expect(new Set(ids).size).toBe(12);
    for (const [i, id] of ids.entries()) expect(target.store.ticket(id)?.subject).toBe(`shared status read ${i}`);
    const after = target.requestsByRoute();
    const delta = (route: string) => (after[route] ?? 0) - (before[route] ?? 0);
    expect(delta('POST /api/v2/imports/tickets/create_many')).toBe(4);
    const reads = Object.keys(after).filter((r) => r.startsWith('GET /api/v2/job_statuses')).map((r) => [r, delta(r)] as const).filter(([, n]) => n > 0);
    expect(reads).toEqual([['GET /api/v2/job_statuses/show_many', 1]]);
  });

  it('updates non-ticket records in place and deletes them', async () => {
    const [orgId, orgTarget] = [...m.ids.organization][0];
    const org = m.source.get('organization')!.get(orgId) as Organization;
    await dst.update('organization', orgTarget, { ...org, notes: 'changed', tags: ['vip'] }, context(src, orgId));
    expect(await dst.get('organization', orgTarget)).toMatchObject({ notes: 'changed', tags: ['vip'], name: org.name });
    const [articleId, articleTarget] = [...m.ids.kbArticle][0];
    const article = resolve('kbArticle', m.source.get('kbArticle')!.get(articleId) as EntityTypes['kbArticle'], m.ids, m.defaultAgent);
    const changed = { ...article, title: 'New title', translations: [...article.translations, { locale: 'fr', title: 'Titre', body: '<p>Bonjour</p>', draft: true, updatedAt: article.updatedAt }] };
    await dst.update('kbArticle', articleTarget, changed, context(src, articleId));
    expect(projection(dst, 'kbArticle', (await dst.get('kbArticle', articleTarget))!)).toEqual(projection(dst, 'kbArticle', changed));
    const before = target.counts().organization;
    await dst.delete('organization', orgTarget);
    expect(target.counts().organization).toBe(before - 1);
    expect(await dst.get('organization', orgTarget)).toBeNull();
    await dst.delete('organization', orgTarget); // already gone: fine
    const [contactId, contactTarget] = [...m.ids.contact][0];
    const contacts = target.counts().contact;
    await dst.delete('contact', contactTarget);
    expect(target.counts().contact).toBe(contacts - 1);
    expect(await dst.get('contact', contactTarget)).toBeNull();
    expect(await dst.find('contact', m.source.get('contact')!.get(contactId) as Contact, `zendesk:${contactId}`)).toBeNull();
    const [, agentTarget] = [...m.ids.agent].find(([, t]) => t !== m.defaultAgent)!;
    const agents = target.counts().agent;
    await dst.delete('agent', agentTarget);
    expect(target.counts().agent).toBe(agents - 1);
  });
});

describe('zendesk writer with fields from another platform', () => {
  it('keeps a canonical key that is not the slug of its title, and hands prepared fields to the loader as created', async () => {
    const target = await sandbox({ tickets: 0, seed: 41 });
    const dst = connect(target);
    try {
      const at = '2025-01-01T00:00:00.000Z';
      const fields = [
        { sourceId: 'f1', key: 'cf_channels', title: 'Affected channels', type: 'multiselect' as const, required: false, active: true, options: [{ value: 'Email', label: 'Email' }, { value: 'Chat', label: 'Chat' }], pattern: null, createdAt: at, updatedAt: at },
        { sourceId: 'f2', key: 'seats', title: 'Seats', type: 'integer' as const, required: false, active: true, options: [], pattern: null, createdAt: at, updatedAt: at },
      ];
      await dst.prepare({ ticketFields: fields });
      expect(target.counts().ticketField).toBe(2);
      // Loader pass: the fields prepare() just made are this run's, so find() does not claim them and create() adopts them.
      for (const f of fields) {
        expect(await dst.find('ticketField', f, '')).toBeNull();
        await dst.create('ticketField', f, { stamp: '', knownChildren: {}, openAttachment: async () => ({ body: new Uint8Array(), contentType: '' }) });
      }
      expect(target.counts().ticketField).toBe(2);
      const back = await readAll(dst, 'ticketField');
      expect([...back.upserts.values()].map((f) => f.key).sort()).toEqual(['cf_channels', 'seats']);
      // A second run (new process) finds them by key.
      const again = connect(target);
      expect(await again.find('ticketField', fields[0], '')).not.toBeNull();
      await again.close();

      const owner = (await readAll(dst, 'agent')).upserts.keys().next().value!;
      const ticket: Ticket = {
        sourceId: 'fd-1',
        subject: 'From elsewhere',
        status: 'open',
        priority: 'high',
        type: null,
        requesterId: owner,
        assigneeId: null,
        groupId: null,
        organizationId: null,
        tags: ['imported'],
        customFields: { cf_channels: ['Chat'], seats: 3 },
        createdAt: at,
        updatedAt: at,
        comments: [{ sourceId: 'c1', authorId: owner, body: '<p>hello</p>', public: true, createdAt: at, attachments: [] }],
      };
      const ref = await dst.create('ticket', ticket, { stamp: 'freshdesk:fd-1', knownChildren: {}, openAttachment: async () => ({ body: new Uint8Array(), contentType: '' }) });
      const read = (await dst.get('ticket', ref.targetId))!;
      expect(read.customFields).toEqual({ cf_channels: ['Chat'], seats: 3 });
      expect(read.tags).toEqual(['imported']);
    } finally {
      await dst.close();
      await target.close();
    }
  });
});

