import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connector } from '../../../connectors/sdk/contract.ts';
import { fakeHelpdesk } from '../../../connectors/sdk/fake-helpdesk.ts';
import type { RunningSandbox } from '../../../connectors/sdk/platform.ts';
import { zendesk } from '../../../connectors/zendesk/index.ts';
import type { Contact, Ticket } from '../../../schemas/canonical.ts';
import { openLedger, type ClickHouseLedger } from '../../../services/ledger/clickhouse-ledger.ts';
import { IdMapCache } from '../../../services/loader/id-map-cache.ts';
import { Loader, matchExistingComments } from '../../../services/loader/loader.ts';
import { ReferenceResolver } from '../../../services/loader/reference-resolver.ts';

// The loader's invariants over a real target (the Zendesk sandbox over HTTP) and the embedded ledger.
let dir: string;
let ledger: ClickHouseLedger;
let sourceBox: RunningSandbox;
let targetBox: Awaited<ReturnType<typeof zendesk.startSandbox>>;
let source: Connector;
let target: Connector;
let loader: Loader;
let ids: IdMapCache;

const h = fakeHelpdesk({ seed: 77, tickets: 5, contacts: 3, maxComments: 3 });
const contact: Contact = { ...h.contacts[0], email: 'loader-test@example.net' };
// Generated attachments have no source URL outside a sandbox: these tickets carry none.
const baseTicket = (): Ticket => ({
  ...h.ticket(0),
  requesterId: contact.sourceId,
  assigneeId: null,
  groupId: null,
  organizationId: null,
  customFields: {},
  comments: h.ticket(0).comments.map((c) => ({ ...c, authorId: contact.sourceId, attachments: [] })),
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hdm-loader-'));
  ledger = await openLedger({ migration: 'loader', path: dir });
  sourceBox = await zendesk.startSandbox({ tickets: 2, seed: 1 });
  targetBox = await zendesk.startSandbox({ tickets: 0 });
  source = zendesk.createConnector({ url: sourceBox.url, credentials: sourceBox.credentials });
  target = zendesk.createConnector({ url: targetBox.url, credentials: targetBox.credentials });
  ids = new IdMapCache(ledger);
  loader = new Loader({ runId: 'run-1', source, target, ledger, ids, resolver: new ReferenceResolver(ids, () => null) });
  const loaded = await loader.load({ entity: 'contact', sourceId: contact.sourceId, updatedAt: contact.updatedAt, record: contact, notes: [] });
  expect(loaded.outcome).toBe('loaded');
});
afterAll(async () => {
  await Promise.allSettled([source?.close(), target?.close(), sourceBox?.close(), targetBox?.close()]);
  await ledger?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('loader', () => {
  it('finds a record a crashed run created before writing its id map entry, instead of creating a second', async () => {
    const ticket = { ...baseTicket(), sourceId: 'crash-1' };
    const resolved = await new ReferenceResolver(ids, () => null).resolve('ticket', ticket);
    // What the crashed process did: it recorded its intent, the create reached the target, the id map
    // write of the result did not.
    await ids.put({ entity: 'ticket', sourceId: 'crash-1', targetId: '', runId: 'run-0', created: false, sourceUpdatedAt: '', checksum: '', children: {}, deleted: false });
    await target.create('ticket', resolved.record, { stamp: `${source.platform}:crash-1`, knownChildren: {}, openAttachment: (a) => source.openAttachment(a) });
    const before = targetBox.counts().ticket;
    const result = await loader.load({ entity: 'ticket', sourceId: 'crash-1', updatedAt: ticket.updatedAt, record: ticket, notes: [] });
    expect(result).toMatchObject({ outcome: 'loaded', action: 'matched' });
    expect(targetBox.counts().ticket).toBe(before);
    const onTarget = (await target.get('ticket', (result as { targetId: string }).targetId)) as Ticket;
    expect(onTarget.comments).toHaveLength(ticket.comments.length);
  });

  it('asks the target before creating only when an earlier process recorded an intent', async () => {
    const requestsFor = async (sourceId: string, withIntent: boolean) => {
      if (withIntent) {
        await ids.put({ entity: 'ticket', sourceId, targetId: '', runId: 'run-0', created: false, sourceUpdatedAt: '', checksum: '', children: {}, deleted: false });
      }
      const before = targetBox.requestsServed();
      const result = await loader.load({ entity: 'ticket', sourceId, updatedAt: '2026-01-01T00:00:00Z', record: { ...baseTicket(), sourceId }, notes: [] });
      expect(result).toMatchObject({ outcome: 'loaded', action: 'created' });
      return targetBox.requestsServed() - before;
    };
    const plain = await requestsFor('fresh-1', false);
    const afterIntent = await requestsFor('fresh-2', true);
    // The intent costs exactly one look-up (by external_id), which finds nothing here.
    expect(afterIntent).toBe(plain + 1);
  });

  it('appends each new comment once, however often the ticket is loaded again', async () => {
    const ticket = { ...baseTicket(), sourceId: 'append-1', comments: baseTicket().comments.slice(0, 1) };
    const first = await loader.load({ entity: 'ticket', sourceId: 'append-1', updatedAt: '2026-01-01T00:00:00Z', record: ticket, notes: [] });
    expect(first).toMatchObject({ outcome: 'loaded', action: 'created' });
    const reply = { ...ticket.comments[0], sourceId: 'reply-1', body: '<p>A reply that arrived later</p>', createdAt: '2026-01-02T00:00:00Z', attachments: [] };
    const updated = { ...ticket, comments: [...ticket.comments, reply] };
    for (let i = 0; i < 3; i++) {
      const r = await loader.load({ entity: 'ticket', sourceId: 'append-1', updatedAt: '2026-01-02T00:00:00Z', record: updated, notes: [] });
      expect(r.outcome).toBe('loaded');
      expect((r as { action: string }).action).toBe(i === 0 ? 'updated' : 'unchanged');
    }
    const onTarget = (await target.get('ticket', (first as { targetId: string }).targetId)) as Ticket;
    expect(onTarget.comments.map((c) => c.body.includes('arrived later'))).toEqual([false, true]);
  });

  it('never lets an older version overwrite a newer one', async () => {
    const newer = { ...baseTicket(), sourceId: 'order-1', subject: 'newer subject' };
    const older = { ...newer, subject: 'older subject' };
    const r1 = await loader.load({ entity: 'ticket', sourceId: 'order-1', updatedAt: '2026-03-02T00:00:00Z', record: newer, notes: [] });
    const r2 = await loader.load({ entity: 'ticket', sourceId: 'order-1', updatedAt: '2026-03-01T00:00:00Z', record: older, notes: [] });
    expect(r2).toMatchObject({ outcome: 'loaded', action: 'unchanged' });
    const onTarget = (await target.get('ticket', (r1 as { targetId: string }).targetId)) as Ticket;
    expect(onTarget.subject).toBe('newer subject');
  });

  it('records a record the target rejects as failed, with its reason and a dead letter, and goes on', async () => {
    const bad = { ...baseTicket(), sourceId: 'bad-1', customFields: { no_such_field_anywhere: 'x' } };
    const result = await loader.load({ entity: 'ticket', sourceId: 'bad-1', updatedAt: '2026-01-01T00:00:00Z', record: bad, notes: [] });
    expect(result.outcome).toBe('failed');
    const failures = await ledger.failures(10);
    const row = failures.find((f) => f.sourceId === 'bad-1');
    expect(row?.errorMessage).toContain('no_such_field_anywhere');
    const letters = await ledger.query(`SELECT stage, error_code FROM dead_letters WHERE migration = 'loader' AND source_id = 'bad-1'`);
    expect(letters).toEqual([{ stage: 'loader', error_code: row!.errorCode }]);
    const next = await loader.load({ entity: 'ticket', sourceId: 'after-bad', updatedAt: '2026-01-01T00:00:00Z', record: { ...baseTicket(), sourceId: 'after-bad' }, notes: [] });
    expect(next.outcome).toBe('loaded');
  });

  it('fails a ticket whose requester was never migrated, naming the field', async () => {
    const orphan = { ...baseTicket(), sourceId: 'orphan-1', requesterId: 'never-loaded' };
    const result = await loader.load({ entity: 'ticket', sourceId: 'orphan-1', updatedAt: '2026-01-01T00:00:00Z', record: orphan, notes: [] });
    expect(result.outcome).toBe('failed');
    if (result.outcome === 'failed') {
      expect(result.error.code).toBe('UNRESOLVED_REFERENCE');
      expect(result.error.context).toMatchObject({ entity: 'ticket', recordId: 'orphan-1', field: 'requesterId' });
    }
  });
});

describe('loader when the target is out of reach', () => {
  it('stops the run instead of failing the record, so the cursor stays and a re-run resumes', async () => {
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r));
    const down = zendesk.createConnector({ url: `http://127.0.0.1:${port}`, credentials: targetBox.credentials, maxAttempts: 2 });
    const offline = new Loader({ runId: 'run-down', source, target: down, ledger, ids, resolver: new ReferenceResolver(ids, () => null) });
    const ticket = { ...baseTicket(), sourceId: 'down-1' };
    await expect(offline.load({ entity: 'ticket', sourceId: 'down-1', updatedAt: ticket.updatedAt, record: ticket, notes: [] })).rejects.toMatchObject({
      code: 'UNREACHABLE',
    });
    expect((await ledger.failures(100)).some((f) => f.sourceId === 'down-1')).toBe(false);
    await down.close();
  });
});

describe('matchExistingComments', () => {
  it('pairs comments in order by text and visibility, twins included', () => {
    const c = (sourceId: string, body: string, isPublic = true) => ({ sourceId, authorId: null, body, public: isPublic, createdAt: '', attachments: [] });
    const planned = [c('a', '<p>Hi</p>'), c('b', 'Thanks!'), c('c', 'Thanks!'), c('d', 'note', false)];
    const existing = [c('1', 'Hi'), c('2', '<div>Thanks!</div>')];
    expect(matchExistingComments(planned, existing)).toEqual({ a: '1', b: '2' });
  });
});
