import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HdmError } from '../../../schemas/errors.ts';
import { zendesk, type ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import type { Contact } from '../../../schemas/canonical.ts';
import { connect, context, sandbox } from './helpers.ts';

// Integration: failures a user meets, each with a clear, typed error.
describe('zendesk connector errors', () => {
  let sb: ZendeskSandbox;
  beforeAll(async () => {
    sb = await sandbox({ tickets: 5, seed: 31 });
  });
  afterAll(async () => sb?.close());

  it('bad credentials fail check() quickly with AUTH_FAILED and never show the token', async () => {
    const c = zendesk.createConnector({ url: sb.url, credentials: { email: sb.credentials.email, apiToken: 'wrong-secret-token' } });
    const started = Date.now();
    const err = await c.check().catch((e: unknown) => e);
    await c.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(HdmError);
    expect(err).toMatchObject({ code: 'AUTH_FAILED', retryable: false });
    expect(JSON.stringify((err as HdmError).toJSON())).not.toContain('wrong-secret-token');
    expect((err as Error).message).toMatch(/ZENDESK_API_TOKEN/);
    const res = await fetch(`${sb.url}/api/v2/users/me.json`, { headers: { authorization: `Basic ${Buffer.from('x/token:y').toString('base64')}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Couldn't authenticate you" });
  });

  it('an address with nothing behind it fails check() with UNREACHABLE', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const c = zendesk.createConnector({ url: `http://127.0.0.1:${port}`, credentials: sb.credentials });
    const err = await c.check().catch((e: unknown) => e);
    await c.close();
    expect(err).toMatchObject({ code: 'UNREACHABLE' });
  });

  it('missing credentials are a config error naming the field', () => {
    expect(() => zendesk.createConnector({ url: sb.url, credentials: { email: 'a@b.c' } })).toThrow(/apiToken/);
  });

  it('a record the sandbox rejects is a REJECTED error naming the record and field', async () => {
    const c = connect(sb);
    try {
      await c.check();
      const contact: Contact = {
        sourceId: '777',
        name: 'Bad Email',
        email: 'not-an-email',
        phone: null,
        organizationId: null,
        tags: [],
        timeZone: null,
        customFields: {},
        createdAt: '2025-01-01T00:00:00.000Z',
        updatedAt: '2025-01-01T00:00:00.000Z',
      };
      const err = await c.create('contact', contact, context(c, '777')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HdmError);
      expect(err).toMatchObject({ code: 'REJECTED', retryable: false, context: { entity: 'contact', recordId: '777', field: 'email', httpStatus: 422 } });
      expect((err as Error).message).toMatch(/contact 777.*email.*not-an-email/);
      const dup = await c.create('organization', { sourceId: '778', name: 'Dup', domains: [], notes: null, tags: [], customFields: {}, createdAt: '', updatedAt: '' }, context(c, '778'));
      expect(dup.targetId).toBeTruthy();
      // Zendesk keeps organization names unique (422 DuplicateValue): the writer adopts the one that
      // holds the name, as find() does by name, instead of failing the record.
      const again = await c.create('organization', { sourceId: '779', name: 'Dup', domains: [], notes: null, tags: [], customFields: {}, createdAt: '', updatedAt: '' }, context(c, '779'));
      expect(again.targetId).toBe(dup.targetId);
      const badGroup = await c.create('group', { sourceId: '780', name: '', description: null, createdAt: '', updatedAt: '' }, context(c, '780')).catch((e: unknown) => e);
      expect(badGroup).toMatchObject({ code: 'REJECTED', context: { entity: 'group', recordId: '780', field: 'name' } });
    } finally {
      await c.close();
    }
  });

  it('enforces the one-minute start_time rule with Zendesk’s error body', async () => {
    const auth = `Basic ${Buffer.from(`${sb.credentials.email}/token:${sb.credentials.apiToken}`).toString('base64')}`;
    const res = await fetch(`${sb.url}/api/v2/incremental/organizations.json?start_time=${Math.floor(Date.now() / 1000) - 10}`, { headers: { authorization: auth } });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ error: 'InvalidValue', description: expect.stringMatching(/Too recent start_time/) });
    // Resuming from "now" the reader never asks for a too-recent start: it re-reads the last minute instead.
    const c = connect(sb);
    const pages = [];
    for await (const page of c.read('organization', { cursor: JSON.stringify({ start: Math.floor(Date.now() / 1000) }), coveredUntil: new Date().toISOString() }, { overlapSeconds: 0 })) pages.push(page);
    await c.close();
    for (const r of pages.flatMap((p) => p.records)) expect(Date.now() - Date.parse(r.updatedAt)).toBeLessThan(120_000);
  });

  it('answers unknown records with Zendesk’s 404 body and get() with null', async () => {
    const c = connect(sb);
    try {
      expect(await c.get('ticket', '999999')).toBeNull();
      expect(await c.get('contact', '1000')).toBeNull(); // an agent, not a contact
      const auth = `Basic ${Buffer.from(`${sb.credentials.email}/token:${sb.credentials.apiToken}`).toString('base64')}`;
      const res = await fetch(`${sb.url}/api/v2/tickets/999999.json`, { headers: { authorization: auth } });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: 'RecordNotFound', description: 'Not found' });
    } finally {
      await c.close();
    }
  });
});
