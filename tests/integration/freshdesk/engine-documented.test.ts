import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../../connectors/freshdesk/index.ts';
import type { Connector, WriteContext } from '../../../connectors/sdk/contract.ts';
import { HdmError } from '../../../schemas/errors.ts';
import { attachmentContent } from '../../../connectors/sdk/fake-helpdesk.ts';
import type { Agent, Ticket } from '../../../schemas/canonical.ts';
import { connect, sandbox } from './helpers.ts';

// The engine against the documented behaviours of tests/integration/freshdesk/sandbox/documented.test.ts:
// what the sandbox used to forgive, the connector now has to get right.
let sb: FreshdeskSandbox;
let c: Connector;
let auth: string;

beforeAll(async () => {
  sb = await sandbox({ tickets: 0, seed: 16 });
  c = connect(sb);
  await c.check();
  await c.prepare!({ ticketFields: [] });
  auth = `Basic ${Buffer.from(`${sb.apiKey}:X`).toString('base64')}`;
});
afterAll(() => sb?.close());

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${sb.url}${path}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
};

const context = (sourceId: string): WriteContext => ({ stamp: `doc:${sourceId}`, knownChildren: {}, openAttachment: async () => ({ body: new Uint8Array(), contentType: 'application/octet-stream' }) });

const at = '2024-05-01T10:00:00Z';

describe('freshdesk writer: agents over contacts through #make_agent', () => {
  it('an agent whose email belongs to a contact is made with make_agent and keeps the contact ID', async () => {
    const existing = await api('POST', '/api/v2/contacts', { name: 'Was A Contact', email: 'was-contact@example.com' });
    expect(existing.status).toBe(201);
    const agent: Agent = {
      sourceId: 'a-1',
      name: 'Was A Contact',
      email: 'was-contact@example.com',
      role: 'light',
      active: true,
      deleted: false,
      groupIds: [],
      timeZone: null,
      createdAt: at,
      updatedAt: at,
    };
    const ref = await c.create('agent', agent, context('a-1'));
    expect(ref.targetId).toBe(String(existing.json.id));
    const made = await api('GET', `/api/v2/agents/${existing.json.id}`);
    expect(made.status).toBe(200);
    // A light agent is a collaborator: the make_agent `type` carried it.
    expect(made.json).toMatchObject({ type: 'collaborator', contact: { email: 'was-contact@example.com' } });
  });
});

describe('freshdesk connector: tickets deleted on the target (#delete_ticket)', () => {
  const ticket = (sourceId: string, requesterId: string): Ticket => ({
      sourceId,
      subject: `Doc ${sourceId}`,
      status: 'open',
      priority: 'normal',
      type: null,
      requesterId,
      assigneeId: null,
      groupId: null,
      organizationId: null,
      tags: [],
      customFields: {},
      comments: [{ sourceId: `${sourceId}-c0`, authorId: requesterId, body: '<p>first</p>', public: true, createdAt: at, attachments: [] }],
      createdAt: at,
      updatedAt: at,
    });

  it('reads a deleted ticket as missing, not as a clean copy (what verify and repair rely on)', async () => {
    const requester = await api('POST', '/api/v2/contacts', { name: 'Requester', email: 'req-deleted@example.com' });
    const ref = await c.create('ticket', ticket('t-1', String(requester.json.id)), context('t-1'));
    expect(await c.get('ticket', ref.targetId)).not.toBeNull();
    expect((await api('DELETE', `/api/v2/tickets/${ref.targetId}`)).status).toBe(204);
    expect((await api('GET', `/api/v2/tickets/${ref.targetId}`)).json.deleted).toBe(true);
    expect(await c.get('ticket', ref.targetId)).toBeNull();
  });

  it('an update of a deleted ticket fails NOT_FOUND (the loader then creates it again), and deleting it again is no error', async () => {
    const requester = await api('POST', '/api/v2/contacts', { name: 'Requester 2', email: 'req-deleted-2@example.com' });
    const record = ticket('t-2', String(requester.json.id));
    const ref = await c.create('ticket', record, context('t-2'));
    await api('DELETE', `/api/v2/tickets/${ref.targetId}`);
    const err = await c.update('ticket', ref.targetId, record, context('t-2')).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HdmError);
    expect((err as HdmError).code).toBe('NOT_FOUND');
    await expect(c.delete('ticket', ref.targetId)).resolves.toBeUndefined();
  });
});

// Conversations › Create a Note: "The total size of all the ticket's attachments (not just this note) cannot exceed 20MB."
describe('freshdesk writer: a later note on a ticket whose attachments already fill most of its 20 MB', () => {
  it('counts what the ticket holds on the target, carries what fits and names the rest', async () => {
    const MB = 1024 * 1024;
    const requester = await api('POST', '/api/v2/contacts', { name: 'Files', email: 'files-budget@example.com' });
    const file = (id: string, size: number) => ({ sourceId: id, fileName: `${id}.bin`, contentType: 'application/octet-stream', size, url: '', inline: false });
    const ctx = (sourceId: string, knownChildren: Record<string, string> = {}): WriteContext => ({
      stamp: `doc:${sourceId}`,
      knownChildren,
      openAttachment: async (a) => ({ body: attachmentContent(a), contentType: a.contentType }),
    });
    const first: Ticket = {
      sourceId: 'files-1',
      subject: 'Files',
      status: 'open',
      priority: 'normal',
      type: null,
      requesterId: String(requester.json.id),
      assigneeId: null,
      groupId: null,
      organizationId: null,
      tags: [],
      customFields: {},
      comments: [{ sourceId: 'f-c0', authorId: String(requester.json.id), body: '<p>scan</p>', public: true, createdAt: at, attachments: [file('scan', 15 * MB)] }],
      createdAt: at,
      updatedAt: at,
    };
    const ref = await c.create('ticket', first, ctx('files-1'));
    const second: Ticket = {
      ...first,
      comments: [
        ...first.comments,
        { sourceId: 'f-c1', authorId: String(requester.json.id), body: '<p>more</p>', public: true, createdAt: at, attachments: [file('photo', 4 * MB), file('video', 6 * MB)] },
      ],
    };
    const updated = await c.update('ticket', ref.targetId, second, ctx('files-1', ref.children));
    expect(updated.children?.['f-c1']).toBeDefined();
    const back = (await c.get('ticket', ref.targetId)) as Ticket;
    expect(back.comments.flatMap((x) => x.attachments.map((a) => a.fileName))).toEqual(['scan.bin', 'photo.bin']);
    expect(back.comments[1].body).toContain('video.bin (6.0 MB)');
  });
});
