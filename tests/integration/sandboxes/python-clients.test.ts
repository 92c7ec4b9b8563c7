import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreshdeskSandbox, type FreshdeskSandbox, type FreshdeskSandboxOptions } from '../../../connectors/freshdesk/sandbox/server.ts';
import { zendesk, type ZendeskSandbox, type ZendeskSandboxOptions } from '../../../connectors/zendesk/index.ts';
import { sandboxOptions } from '../../helpers/sandbox-options.ts';
import { pythonClients, runPythonScenario, type PythonClients } from '../../helpers/python-clients.ts';

// Published Python client libraries (zenpy, python-freshdesk) from PyPI, unchanged except for where they
// send their requests, run the calls a migration tool makes against the sandboxes. Each scenario prints
// what the client returned; the assertions compare it with what the sandbox holds.
const ZENPY = fileURLToPath(new URL('./python/zenpy_scenarios.py', import.meta.url));
const FRESHDESK = fileURLToPath(new URL('./python/freshdesk_scenarios.py', import.meta.url));

let py: PythonClients;
beforeAll(async () => {
  py = await pythonClients();
  if (py.setupSeconds > 0) console.info(`Python clients installed (${py.kind}) in ${py.setupSeconds.toFixed(1)} s`);
}, 600_000);

const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);

describe('zenpy against the Zendesk sandbox', () => {
  let zd: ZendeskSandbox;
  // More than 100 listed tickets (archived ones are left out of List Tickets) so offset pagination needs a second page.
  beforeAll(async () => {
    zd = await zendesk.startSandbox(
      sandboxOptions<ZendeskSandboxOptions>({
        tickets: 200,
        seed: 11,
        maxComments: 4,
        articles: 6,
        immediateExports: 'The resume scenario exports changes made a moment ago',
        unthrottled: 'The scenarios run back to back through a client that is not ours; its 429 handling is not under test, the sandbox 429s are (limits.test.ts)',
      }),
    );
  });
  afterAll(async () => zd?.close());

  const zenpy = <T = Record<string, unknown>>(scenario: string, args: Record<string, unknown> = {}) =>
    runPythonScenario<T>(py, ZENPY, [scenario, JSON.stringify(args)], {
      ZENDESK_URL: zd.url,
      ZENDESK_EMAIL: zd.credentials.email!,
      ZENDESK_API_TOKEN: zd.credentials.apiToken!,
    });
  const liveTicketIds = () => sorted(Array.from(zd.store.ticketsByTime().ids).filter((id) => zd.store.ticket(id) !== undefined && !zd.store.ticket(id)!.archived));
  const endUser = () => [...zd.store.users.values()].find((u) => u.role === 'end-user' && u.active)!.id;
  const agent = () => [...zd.store.users.values()].find((u) => u.role === 'agent' && u.active)!.id;

  it('lists and paginates tickets (cursor and offset), users, organizations, groups and fields, and is refused a wrong token', async () => {
    const out = await zenpy<Record<string, number[]> & { me: string; refused_status: number; ticket: string }>('list', { ticket_id: 7 });
    expect(out.me).toBe(zd.credentials.email);
    expect(out.refused_status).toBe(401);
    expect(out.tickets_cursor.length).toBeGreaterThan(100);
    expect(out.tickets_cursor).toEqual(liveTicketIds());
    expect(out.tickets_offset).toEqual(liveTicketIds());
    expect(sorted(out.users)).toEqual(sorted([...zd.store.users.keys()]));
    expect(sorted(out.organizations)).toEqual(sorted([...zd.store.organizations.values()].filter((o) => !o.deleted_at).map((o) => o.id)));
    expect(sorted(out.groups)).toEqual(sorted([...zd.store.groups.values()].filter((g) => !g.deleted).map((g) => g.id)));
    expect(sorted(out.ticket_fields)).toEqual(sorted([...zd.store.ticketFields.keys()]));
    expect(out.ticket).toBe(zd.store.ticket(7)!.subject);
  });

  it('exports tickets, users and organizations incrementally (cursor- and time-based) and resumes from the saved cursor', async () => {
    const all = sorted(Array.from(zd.store.ticketsByTime().ids));
    const out = await zenpy<{ cursor_ids: number[]; time_ids: number[]; users: number[]; organizations: number[]; after_cursor: string }>('incremental', { start_time: 0 });
    expect(out.cursor_ids).toHaveLength(all.length);
    expect(sorted(out.cursor_ids)).toEqual(all);
    // Time-based pages start at the previous page's end_time, so boundary records come twice; none is missing.
    expect(sorted([...new Set(out.time_ids)])).toEqual(all);
    expect(out.time_ids.length).toBeGreaterThan(all.length);
    expect(sorted(out.users)).toEqual(sorted([...zd.store.users.keys()]));
    expect(sorted(out.organizations)).toEqual(sorted([...zd.store.organizations.keys()]));

    const changed = zd.updateTicket(3, { subject: 'Changed after the export' });
    const created = zd.createTicket({ subject: 'Created after the export' });
    const resumed = await zenpy<{ ids: number[]; subjects: string[] }>('resume', { cursor: out.after_cursor });
    expect(resumed.ids).toEqual([changed.id, created.id]);
    expect(resumed.subjects).toEqual(['Changed after the export', 'Created after the export']);
  });

  // Zendesk "Incremental Exports" → "Incremental Ticket Event Export" (include=comment_events) and
  // "Side-loading"; zenpy's tickets.events() and tickets.incremental(include=…) as they are.
  it('exports ticket events with their comments, and tickets with sideloaded users and organizations', async () => {
    const out = await zenpy<{
      events: { ticket_id: number; comment_ids: number[]; bodies: string[] }[];
      tickets: number;
      requesters: number[];
      cached_requesters: number[];
      organizations: number[];
      cached_organizations: number[];
    }>('events_and_sideloads', { start_time: 0, per_page: 200 });
    const want = new Map<number, number>();
    for (const id of zd.store.ticketsByTime().ids) for (const c of zd.store.ticket(id, true)?.comments ?? []) want.set(c.id, id);
    const got = new Map<number, number>();
    for (const e of out.events) {
      expect(e.comment_ids).toHaveLength(1);
      got.set(e.comment_ids[0], e.ticket_id);
    }
    expect(got).toEqual(want);
    expect(out.tickets).toBeGreaterThan(0);
    expect(out.requesters.length).toBeGreaterThan(0);
    expect(out.cached_requesters).toEqual(out.requesters);
    expect(out.organizations.length).toBeGreaterThan(0);
    expect(out.cached_organizations).toEqual(out.organizations);
  });

  it('reads a ticket’s comments with authors, visibility and attachments', async () => {
    const id = liveTicketIds().find((t) => zd.store.ticket(t)!.comments.length >= 2)!;
    const expected = zd.store.ticket(id)!.comments.map((c) => zd.store.commentJson(c));
    const out = await zenpy<{ comments: { id: number; body: string; public: boolean; author_id: number; attachments: string[] }[] }>('comments', { ticket_id: id });
    expect(out.comments).toEqual(
      expected.map((c) => ({ id: c.id, body: c.body, public: c.public, author_id: c.author_id, attachments: c.attachments.map((a) => a.file_name) })),
    );
  });

  it('reads the Help Center (categories, sections, articles, translations) and creates a category, section and article', async () => {
    const out = await zenpy<{
      categories: number[];
      sections: number[];
      articles: number[];
      section_id: number;
      in_section: number[];
      translations: string[];
      created: Record<string, unknown>;
    }>('help-center');
    expect(sorted(out.categories)).toEqual(sorted([...zd.store.categories.keys()]).filter((id) => id !== out.created.category));
    expect(sorted(out.sections)).toEqual(sorted([...zd.store.sections.keys()]).filter((id) => id !== out.created.section));
    expect(sorted(out.articles)).toEqual(sorted([...zd.store.articles.keys()]).filter((id) => id !== out.created.article));
    expect(sorted(out.in_section)).toEqual(sorted([...zd.store.articles.values()].filter((a) => a.item.section_id === out.section_id).map((a) => a.item.id)));
    expect(out.translations.sort()).toEqual([...zd.store.articles.get(out.articles[0])!.translations.keys()].sort());
    const article = zd.store.articles.get(out.created.article as number)!.item;
    expect(article).toMatchObject({ title: 'Migrated article', body: '<p>Body of the article</p>', section_id: out.created.section });
    expect(zd.store.sections.get(out.created.section as number)!.item.category_id).toBe(out.created.category);
    expect(out.created).toMatchObject({ article_section: out.created.section, title: 'Migrated article', body: '<p>Body of the article</p>' });
  });

  it('imports one ticket, then three with create_many, polling the job status until it completes', async () => {
    const requester = endUser();
    const assignee = agent();
    const out = await zenpy<{ single: number; single_created_at: string; job_status: string; polls: number; job_ids: number[]; job_total: number }>('import', {
      requester_id: requester,
      agent_id: assignee,
    });
    expect(out.job_status).toBe('completed');
    expect(out.polls).toBeGreaterThanOrEqual(1);
    expect(out.job_total).toBe(3);
    const ids = [out.single, ...out.job_ids];
    ids.forEach((id, i) => {
      const t = zd.store.ticketJson(zd.store.ticket(id)!);
      expect(t).toMatchObject({ subject: `Imported ${i + 1}`, status: 'closed', requester_id: requester, assignee_id: assignee, created_at: `2020-01-0${i + 1}T10:00:00Z` });
      expect(zd.store.ticket(id)!.comments.map((c) => [c.author_id, c.public])).toEqual([
        [requester, true],
        [assignee, false],
      ]);
    });
    expect(out.single_created_at).toBe('2020-01-01T10:00:00Z');
  });

  it('uploads two files under one token, creates a ticket with them and downloads the same bytes', async () => {
    const out = await zenpy<{ token_shared: boolean; ticket_id: number; files: string[]; bytes_match: boolean }>('uploads', { requester_id: endUser() });
    expect(out.token_shared).toBe(true);
    expect(out.files).toEqual(['first.bin', 'second.txt']);
    expect(out.bytes_match).toBe(true);
    expect(zd.store.ticket(out.ticket_id)!.comments[0].attachments.map((a) => a.file_name).sort()).toEqual(['first.bin', 'second.txt']);
  });

  it('adds a private note and a public reply through a ticket update', async () => {
    const id = liveTicketIds().find((t) => zd.store.ticket(t)!.status !== 'closed')!;
    const out = await zenpy<{ last: { body: string; public: boolean }[] }>('notes', { ticket_id: id });
    expect(out.last).toEqual([
      { body: 'Internal note from zenpy', public: false },
      { body: 'Public reply from zenpy', public: true },
    ]);
    expect(zd.store.ticket(id)!.comments.slice(-2).map((c) => c.public)).toEqual([false, true]);
  });
});

describe('python-freshdesk against the Freshdesk sandbox', () => {
  let fd: FreshdeskSandbox;
  beforeAll(async () => {
    fd = await startFreshdeskSandbox(
      sandboxOptions<FreshdeskSandboxOptions>({ tickets: 45, seed: 11, maxComments: 3, articles: 6, unthrottled: 'python-freshdesk raises on a 429 instead of waiting; the sandbox 429s have their own tests (limits.test.ts)' }),
    );
    await fd.ready;
  });
  afterAll(async () => fd?.close());

  const client = <T = Record<string, unknown>>(scenario: string, args: Record<string, unknown> = {}) =>
    runPythonScenario<T>(py, FRESHDESK, [scenario, JSON.stringify(args)], { FRESHDESK_URL: fd.url, FRESHDESK_API_KEY: fd.apiKey });
  const since = '2000-01-01T00:00:00Z';
  // What the sandbox holds, read over its API without the client under test.
  const raw = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${fd.url}${path}`, { headers: { authorization: `Basic ${Buffer.from(`${fd.apiKey}:X`).toString('base64')}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };

  it('lists and paginates tickets, contacts, companies, agents, groups, fields and roles with the key and a dummy password', async () => {
    const counts = fd.counts();
    const out = await client<Record<string, number[]> & { refused: boolean; me: number; ticket: string; ticket_fields: string[] }>('list', { since, ticket_id: 9 });
    expect(out.refused).toBe(true);
    for (const [key, entity] of [
      ['tickets', 'ticket'],
      ['contacts', 'contact'],
      ['companies', 'organization'],
      ['agents', 'agent'],
      ['groups', 'group'],
    ] as const) {
      expect(out[key], key).toHaveLength(counts[entity]);
      expect(new Set(out[key]).size, key).toBe(counts[entity]);
    }
    expect(out.agents).toContain(out.me);
    expect(out.ticket_fields).toEqual(expect.arrayContaining(['subject', 'status', 'priority']));
    expect(out.roles.length).toBeGreaterThan(0);
    expect(out.ticket).toBe((await raw<{ subject: string }>('/api/v2/tickets/9')).subject);
  });

  it('reads changes since a time in update order, as a resumed export does', async () => {
    const marker = new Date(Date.now() - 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const first = fd.updateTicket(4, { subject: 'Changed first', updated_at: new Date(Date.now() + 1000).toISOString() });
    const second = fd.updateTicket(2, { subject: 'Changed second', updated_at: new Date(Date.now() + 2000).toISOString() });
    const out = await client<{ ids: number[]; updated_at: string[] }>('changed-since', { since: marker });
    expect(out.ids).toEqual([first.id, second.id]);
    expect(out.updated_at.map((t) => Date.parse(t))).toEqual([Date.parse(first.updated_at), Date.parse(second.updated_at)]);
  });

  it('filters tickets with the filter API across its 30-result pages', async () => {
    for (let i = 0; i < 30; i++) fd.createTicket({ subject: `Open ${i}`, status: 2 });
    const open = await client<{ ids: number[] }>('filter', { status: 2 });
    const all = await raw<{ id: number; status: number }[]>(`/api/v2/tickets?updated_since=${since}&per_page=100`);
    expect(all).toHaveLength(fd.counts().ticket);
    const expected = all.filter((t) => t.status === 2).map((t) => t.id);
    expect(expected.length).toBeGreaterThan(30);
    expect(sorted(open.ids)).toEqual(sorted(expected));
  });

  it('reads conversations page by page, adds a private note and a public reply', async () => {
    const t = fd.createTicket({ subject: 'Conversation ticket' });
    const added = ['one', 'two', 'three'].map((body, i) => fd.addConversation(t.id, { body: `<p>${body}</p>`, private: i === 1 }));
    const out = await client<{
      before: number[];
      note: { private: boolean; body: string; id: number };
      reply: { private: boolean; body: string; id: number };
      after: { id: number; private: boolean; body_text: string }[];
      included: number[];
    }>('conversations', { ticket_id: t.id });
    expect(out.before).toEqual(added.map((c) => c.id));
    expect(out.note).toMatchObject({ private: true, body: '<p>Internal note from python-freshdesk</p>' });
    expect(out.reply).toMatchObject({ private: false, body: '<p>Reply from python-freshdesk</p>' });
    expect(out.after.map((c) => [c.id, c.private, c.body_text])).toEqual([
      [added[0].id, false, 'one'],
      [added[1].id, true, 'two'],
      [added[2].id, false, 'three'],
      [out.note.id, true, 'Internal note from python-freshdesk'],
      [out.reply.id, false, 'Reply from python-freshdesk'],
    ]);
    expect(out.included).toEqual(out.after.map((c) => c.id));
  });

  it('reads solutions (categories, folders, articles) and creates a category, folder, article and its translation', async () => {
    const before = fd.counts();
    const out = await client<{ categories: number[]; folders: number[]; articles: number[]; first_title: string; created: Record<string, unknown> }>('solutions');
    expect(out.categories).toHaveLength(before.kbCategory);
    expect(out.folders).toHaveLength(before.kbSection);
    expect(out.articles).toHaveLength(before.kbArticle);
    expect(out.first_title).toEqual(expect.any(String));
    expect(out.created).toMatchObject({ article_folder: out.created.folder, in_folder: [out.created.article], translated_title: 'Migrierter Artikel', read_back: 'Migrierter Artikel' });
    expect(fd.counts()).toMatchObject({ kbCategory: before.kbCategory + 1, kbSection: before.kbSection + 1, kbArticle: before.kbArticle + 1 });
  });

  it('creates a ticket with an attachment (multipart), finding the requester by email, and downloads the same bytes', async () => {
    const contactsBefore = fd.counts().contact;
    const requester = fd.createTicket({}).requester_id;
    const out = await client<{
      id: number;
      subject: string;
      priority: string;
      tags: string[];
      requester_id: number;
      attachment: { name: string; size: number; bytes_match: boolean };
      plain: { id: number; requester_id: number; priority: string };
    }>('create-with-attachment', { requester_id: requester });
    expect(out).toMatchObject({ subject: 'Ticket with an attachment', priority: 'high', tags: ['migrated', 'attachment'] });
    expect(out.attachment).toEqual({ name: 'evidence.bin', size: 41, bytes_match: true });
    expect(fd.counts().contact).toBe(contactsBefore + 1);
    expect(out.plain).toMatchObject({ requester_id: requester, priority: 'medium' });
  });

  it('creates a contact with the client’s defaults (view_all_tickets, description), updates and finds it, creates a company', async () => {
    const out = await client<{ id: number; view_all_tickets: boolean; description: string; job_title: string; found: number[]; company: { id: number; name: string } }>('contacts');
    expect(out).toMatchObject({ view_all_tickets: false, description: 'Freshdesk Contact', job_title: 'Buyer', found: [out.id] });
    expect(out.company.name).toBe('Imported Company');
  });
});
