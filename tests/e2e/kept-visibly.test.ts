import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import type { FreshdeskSandbox } from '../../connectors/freshdesk/sandbox/server.ts';
import { migrateCommand } from '../../services/cli/commands.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import type { Ticket, TicketField } from '../../schemas/canonical.ts';
import { htmlText } from '../../schemas/projection.ts';
import { captureOutput, deltaJson as delta, verifyJson as verify, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

// Freshdesk API v2 reference, Tickets › "Create a Ticket" and Conversations › "Create a Note": neither
// takes a creation time, so Freshdesk stamps the time of the call; the engine keeps the originals visibly.

const HEADER = /Originally written by (zendesk user \d+|an unknown zendesk user) on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g;

/** Each migrated ticket as the source has it and as the target holds it. */
async function pairs(m: MigrationEnv): Promise<{ source: Ticket; target: Ticket }[]> {
  const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
  try {
    const out: { source: Ticket; target: Ticket }[] = [];
    for await (const entry of rt.ledger.idMap('ticket')) {
      if (entry.deleted || !entry.targetId) continue;
      const [source, target] = await Promise.all([rt.source.get('ticket', entry.sourceId), rt.target.get('ticket', entry.targetId)]);
      if (source && target) out.push({ source: source as Ticket, target: target as Ticket });
    }
    return out;
  } finally {
    await rt.close();
  }
}

/** The target's custom ticket fields. */
async function targetFields(m: MigrationEnv): Promise<TicketField[]> {
  const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
  try {
    const out: TicketField[] = [];
    for await (const page of rt.target.read('ticketField', null)) for (const e of page.records) if (e.op === 'upsert') out.push(e.record as TicketField);
    return out;
  } finally {
    await rt.close();
  }
}

/** Freshdesk API v2 reference, Ticket Fields › "List All Ticket Fields" (admin). */
async function adminFields(m: MigrationEnv): Promise<{ name: string; type: string }[]> {
  const target = m.target as FreshdeskSandbox;
  const res = await fetch(`${target.url}/api/v2/admin/ticket_fields`, { headers: { authorization: `Basic ${Buffer.from(`${target.apiKey}:X`).toString('base64')}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { name: string; type: string }[];
}

describe('what Freshdesk cannot store is kept visibly (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 8, seed: 61, articles: 1, maxComments: 3, immediateExports: 'The delta reads changes made a moment before', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  });
  afterAll(async () => m?.close());

  it('puts one header line with the original author and time on every description and note, and the original date in original_created_at', async () => {
    expect(await migrateCommand(parseMigrationConfig(m.config), { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
    const migrated = await pairs(m);
    expect(migrated.length).toBeGreaterThan(0);
    for (const { source, target } of migrated) {
      expect(target.customFields.original_created_at, `ticket ${source.sourceId}`).toBe(source.createdAt.slice(0, 10));
      expect(target.comments).toHaveLength(source.comments.length);
      source.comments.forEach((c, i) => {
        const text = htmlText(target.comments[i].body);
        const author = c.authorId === null ? 'an unknown zendesk user' : `zendesk user ${c.authorId}`;
        expect(text.startsWith(`Originally written by ${author} on ${new Date(c.createdAt).toISOString().replace(/\.\d{3}Z$/, 'Z')}`), text.slice(0, 120)).toBe(true);
        expect(text.match(HEADER)).toHaveLength(1);
      });
    }
    // Created by the engine as a date field; kept out of the ticketField stream like the stamp field.
    expect((await adminFields(m)).find((f) => f.name.includes('original_created_at'))).toMatchObject({ type: 'custom_date' });
    expect((await targetFields(m)).map((f) => f.key)).not.toContain('original_created_at');
    const { code, report } = await verify(m);
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0 });
    expect(code).toBe(0);
  });

  it('never adds the header twice: a delta that updates a ticket and appends a note, then one that re-reads it, leave one header per body', async () => {
    const source = m.source as ZendeskSandbox;
    const ticket = source.createTicket({ subject: 'Arrives in a delta', comment: { body: '<p>first words</p>', public: true } });
    expect((await delta(m)).code).toBe(0);
    source.updateTicket(ticket.id, { subject: 'Changed in a later delta', tags: ['later'] });
    source.addComment(ticket.id, { body: 'a reply after the first delta', public: true });
    expect((await delta(m)).code).toBe(0);
    // The overlap window reads the same changes again.
    expect((await delta(m)).code).toBe(0);
    const migrated = await pairs(m);
    const after = migrated.find((p) => p.source.sourceId === String(ticket.id))!;
    expect(after.target.subject).toBe('Changed in a later delta');
    expect(after.target.comments).toHaveLength(2);
    for (const { target } of migrated) for (const c of target.comments) expect(htmlText(c.body).match(HEADER), htmlText(c.body).slice(0, 160)).toHaveLength(1);
    const { code, report } = await verify(m);
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0 });
    expect(code).toBe(0);
  });
});

describe('what RT cannot store is kept visibly (zendesk → rt, a real RT)', () => {
  // RT REST2 (docs/rest2 › Tickets, Transactions): Created and each transaction's time are the call's.
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'rt', { tickets: 5, seed: 63, articles: 1, maxComments: 3, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, { entities: ['group', 'contact', 'ticketField', 'ticket'] });
  });
  afterAll(async () => m?.close());

  it('one header per description and correspondence, the original date in original_created_at, clean after a second run', async () => {
    const config = parseMigrationConfig(m.config);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false, restart: true }, captureOutput(), m.env)).toBe(0);
    const migrated = await pairs(m);
    expect(migrated.length).toBeGreaterThan(0);
    for (const { source, target } of migrated) {
      expect(target.customFields.original_created_at, `ticket ${source.sourceId}`).toBe(source.createdAt.slice(0, 10));
      expect(target.comments).toHaveLength(source.comments.length);
      for (const c of target.comments) expect(htmlText(c.body).match(HEADER), htmlText(c.body).slice(0, 160)).toHaveLength(1);
    }
    const { code, report } = await verify(m);
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0 });
    expect(code).toBe(0);
  });
});

describe('options.originals switched off (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 5, seed: 62, articles: 1, maxComments: 3, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, { options: { originals: { header: false, field: false } } });
  });
  afterAll(async () => m?.close());

  it('writes bodies as the source has them and no original_created_at, and verifies clean', async () => {
    expect(await migrateCommand(parseMigrationConfig(m.config), { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
    const migrated = await pairs(m);
    expect(migrated.length).toBeGreaterThan(0);
    for (const { target } of migrated) {
      expect(target.customFields).not.toHaveProperty('original_created_at');
      for (const c of target.comments) expect(htmlText(c.body)).not.toMatch(/Originally written by/);
    }
    expect((await adminFields(m)).map((f) => f.name).join(' ')).not.toContain('original_created_at');
    const { code, report } = await verify(m);
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0 });
    expect(code).toBe(0);
  });
});
