import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../connectors/freshdesk/sandbox/server.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import { undoCommand } from '../../services/cli/undo.command.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { captureOutput, deltaJson as delta, migrateJson as migrate, verifyJson as verify, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

// Freshdesk API v2 reference, Tickets › Create a Ticket: "The total size of these attachments cannot
// exceed 20MB"; Conversations › Create a Note: the total size of all of the ticket's attachments, not
// just this note's, cannot exceed 20MB. The limit is the ticket's over its life, so follow-up notes on
// the same ticket cannot hold more: what does not fit goes to the configured attachment location.

const MB = 1024 * 1024;
const BASE_URL = 'https://files.example.com/helpdesk';

/** Bytes that differ from file to file, so a checksum tells them apart. */
const bytesOf = (size: number, seed: number) => {
  const out = new Uint8Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i += 1) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
};
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface SourceFile {
  name: string;
  bytes: Uint8Array;
}

async function zendeskApi(m: MigrationEnv) {
  const auth = `Basic ${Buffer.from(`${m.source.credentials.email}/token:${m.source.credentials.apiToken}`).toString('base64')}`;
  const zd = async (method: string, path: string, body?: unknown, raw?: { bytes: Uint8Array; type: string }) => {
    const res = await fetch(`${m.source.url}/api/v2/${path}`, {
      method,
      headers: { authorization: auth, 'content-type': raw?.type ?? 'application/json' },
      body: raw ? raw.bytes : body ? JSON.stringify(body) : undefined,
    });
    const json = (await res.json()) as any;
    expect(res.status, `${method} ${path}: ${JSON.stringify(json)}`).toBeLessThan(300);
    return json;
  };
  const upload = async (file: SourceFile) => (await zd('POST', `uploads.json?filename=${encodeURIComponent(file.name)}`, undefined, { bytes: file.bytes, type: 'application/pdf' })).upload.token as string;
  return { zd, upload };
}

/** The target copy of a source ticket, read back through the target connector. */
async function targetTicket(m: MigrationEnv, sourceId: string): Promise<Ticket> {
  const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
  try {
    const entry = (await rt.ledger.lookupIds('ticket', [sourceId])).get(sourceId);
    expect(entry?.targetId).toBeTruthy();
    return (await rt.target.get('ticket', entry!.targetId)) as Ticket;
  } finally {
    await rt.close();
  }
}

/** Bytes each attachment of a target ticket holds: Freshdesk's own downloaded, linked ones read from the location. */
async function arrivedFiles(m: MigrationEnv, ticket: Ticket, location: string): Promise<Map<string, string>> {
  const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
  try {
    const out = new Map<string, string>();
    for (const a of ticket.comments.flatMap((c) => c.attachments)) {
      expect(out.has(a.fileName), `${a.fileName} arrived once`).toBe(false);
      if (a.url.startsWith(`${BASE_URL}/`)) {
        const path = join(location, ...a.url.slice(BASE_URL.length + 1).split('/').map(decodeURIComponent));
        const bytes = new Uint8Array(readFileSync(path));
        expect(bytes.length, a.fileName).toBe(a.size);
        out.set(a.fileName, sha(bytes));
      } else {
        const file = await rt.target.openAttachment(a);
        expect(file.body.length, a.fileName).toBe(a.size);
        out.set(a.fileName, sha(file.body));
      }
    }
    return out;
  } finally {
    await rt.close();
  }
}

const filesUnder = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));

describe("attachments over Freshdesk's 20 MB per ticket, with an attachment location (zendesk → freshdesk)", () => {
  let m: MigrationEnv;
  let location: string;
  let ticketId: string;
  let agentId: number;
  let firstRun: string;
  const files: SourceFile[] = [
    { name: 'scan-a.pdf', bytes: bytesOf(9 * MB, 1) },
    { name: 'scan-b.pdf', bytes: bytesOf(8 * MB + 123, 2) },
    { name: 'scan-c.pdf', bytes: bytesOf(6 * MB, 3) },
    { name: 'photos.zip', bytes: bytesOf(4 * MB + 7, 4) },
  ];
  const later: SourceFile = { name: 'late-log.txt', bytes: bytesOf(5 * MB, 5) };

  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 0, seed: 61, immediateExports: 'The tickets and their files are made at the source a moment before the migration reads them', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    location = join(m.dir, 'attachments');
    m.config.options = { attachmentLinks: { directory: location, baseUrl: BASE_URL } };
    const { zd, upload } = await zendeskApi(m);
    const customer = (await zd('POST', 'users.json', { user: { name: 'Big Files', email: 'big.files@example.org', role: 'end-user' } })).user;
    const agent = (await zd('POST', 'users.json', { user: { name: 'Agent Files', email: 'agent.files@example.com', role: 'agent' } })).user;
    agentId = agent.id;
    const tokens = [];
    for (const f of files) tokens.push(await upload(f));
    const made = await zd('POST', 'imports/tickets.json', {
      ticket: {
        subject: '27 MB of scans',
        requester_id: customer.id,
        status: 'open',
        comments: [
          { author_id: customer.id, html_body: '<p>Here are the scans.</p>', public: true, uploads: tokens.slice(0, 3), created_at: '2024-03-01T09:00:00Z' },
          { author_id: agent.id, html_body: '<p>And the photos.</p>', public: false, uploads: tokens.slice(3), created_at: '2024-03-01T10:00:00Z' },
        ],
      },
    });
    ticketId = String(made.ticket.id);
  }, 120_000);
  afterAll(async () => m?.close());

  it('carries every file byte for byte: what fits on the ticket, the rest linked at the location; verify clean, counted once', async () => {
    const { code, result } = await migrate(m);
    expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
    expect(code).toBe(0);
    firstRun = result.run.runId;
    // scan-a and scan-b fill 17 MB; scan-c (6 MB) and photos.zip (4 MB) do not fit in what is left.
    expect(result.run.summary.transformations).toEqual({ 'attachments-linked': 2 });

    const target = await targetTicket(m, ticketId);
    const arrived = await arrivedFiles(m, target, location);
    expect(new Map(files.map((f) => [f.name, sha(f.bytes)]))).toEqual(arrived);
    // Freshdesk itself holds no more than its limit.
    const sb = m.target as FreshdeskSandbox;
    const held = target.comments.flatMap((c) => c.attachments).filter((a) => !a.url.startsWith(BASE_URL));
    expect(held.map((a) => a.fileName).sort()).toEqual(['scan-a.pdf', 'scan-b.pdf']);
    expect(held.reduce((sum, a) => sum + a.size, 0)).toBeLessThanOrEqual(20 * MB);
    // Each comment stays one comment: the link list is in the comment that held the files.
    expect(target.comments.map((c) => c.attachments.map((a) => a.fileName).sort())).toEqual([['scan-a.pdf', 'scan-b.pdf', 'scan-c.pdf'], ['photos.zip']]);
    // Freshdesk sets its own times: each body starts with the header line naming the original author and time.
    const header = /^<p>Originally written by zendesk user \d+ on [^<]+Z<\/p>/;
    for (const c of target.comments) expect(c.body).toMatch(header);
    expect(target.comments.map((c) => c.body.replace(header, '').trim())).toEqual(['<p>Here are the scans.</p>', '<p>And the photos.</p>']);
    expect(filesUnder(location)).toHaveLength(2);

    // A second full run and a delta add nothing: no note, no file, no transformation applied twice on the target.
    expect((await migrate(m)).result.clean).toBe(true);
    const pass = await delta(m);
    expect(pass.code).toBe(0);
    const again = await targetTicket(m, ticketId);
    expect(again.comments).toHaveLength(2);
    expect(again.comments.flatMap((c) => c.attachments).map((a) => a.fileName).sort()).toEqual(files.map((f) => f.name).sort());
    expect(sb.counts().ticket).toBe(1);
    expect(filesUnder(location)).toHaveLength(2);
  }, 300_000);

  it('a comment added at the source later carries its file to the location in the delta, once', async () => {
    const { upload } = await zendeskApi(m);
    const token = await upload(later);
    (m.source as ZendeskSandbox).addComment(Number(ticketId), { html_body: '<p>One more log.</p>', public: false, author_id: agentId, uploads: [token] });
    const first = await delta(m);
    expect(first.code).toBe(0);
    expect(first.pass.counts.ticket.updated).toBe(1);
    const second = await delta(m);
    expect(second.code).toBe(0);

    const target = await targetTicket(m, ticketId);
    expect(target.comments).toHaveLength(3);
    expect(target.comments[2].attachments.map((a) => [a.fileName, a.url.startsWith(BASE_URL)])).toEqual([['late-log.txt', true]]);
    expect((await arrivedFiles(m, target, location)).get('late-log.txt')).toBe(sha(later.bytes));
    expect(filesUnder(location)).toHaveLength(3);
    const { code, report } = await verify(m);
    expect(report.clean, JSON.stringify(report.issues)).toBe(true);
    expect(code).toBe(0);
  }, 300_000);

  it('verify shows the ticket as differing when a linked file is gone from the location', async () => {
    const [file] = filesUnder(location).filter((f) => f.endsWith('scan-c.pdf'));
    renameSync(file, `${file}.moved`);
    try {
      const { report } = await verify(m);
      expect(report.clean).toBe(false);
      expect(report.entities.ticket).toMatchObject({ mismatched: 1, missing: 0 });
      const issue = report.issues.find((i: { sourceId: string }) => i.sourceId === ticketId);
      expect(issue?.detail).toContain('attachments');
      expect(issue?.detail).toContain('scan-c.pdf');
    } finally {
      renameSync(`${file}.moved`, file);
    }
    expect((await verify(m)).report.clean).toBe(true);
  }, 300_000);

  it('hdm undo of the run that created the ticket removes its files from the location with it', async () => {
    expect(filesUnder(location)).toHaveLength(3);
    const out = captureOutput();
    expect(await undoCommand(parseMigrationConfig(m.config), firstRun, { yes: true, json: true, progress: false }, out, m.env)).toBe(0);
    const report = JSON.parse(out.stdout.join('\n'));
    expect(report.entities.ticket).toMatchObject({ deleted: 1, filesRemoved: 3 });
    expect(report.totals.filesRemoved).toBe(3);
    expect((m.target as FreshdeskSandbox).counts().ticket).toBe(0);
    expect(filesUnder(location)).toHaveLength(0);
  }, 300_000);
});

describe("attachments over Freshdesk's 20 MB per ticket, without an attachment location", () => {
  let m: MigrationEnv;
  afterAll(async () => m?.close());

  it('names a file the ticket cannot hold in its comment, in the run report and in verify: never silently dropped', async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 0, seed: 62, immediateExports: 'The tickets and their files are made at the source a moment before the migration reads them', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    const { zd, upload } = await zendeskApi(m);
    const customer = (await zd('POST', 'users.json', { user: { name: 'Huge File', email: 'huge.file@example.org', role: 'end-user' } })).user;
    const huge: SourceFile = { name: 'disk-image.iso', bytes: bytesOf(21 * MB, 9) };
    const small: SourceFile = { name: 'notes.txt', bytes: bytesOf(1000, 10) };
    const made = await zd('POST', 'imports/tickets.json', {
      ticket: {
        subject: 'One file over the limit',
        requester_id: customer.id,
        status: 'open',
        comments: [{ author_id: customer.id, html_body: '<p>The image.</p>', public: true, uploads: [await upload(huge), await upload(small)] }],
      },
    });
    const { code, result } = await migrate(m);
    expect(result.counts.ticket).toMatchObject({ created: 1, failed: 0 });
    expect(result.run.summary.transformations).toEqual({ 'attachments-not-carried': 1 });
    expect(result.clean).toBe(false);
    expect(code).not.toBe(0);
    const issue = result.issues.find((i: { sourceId: string }) => i.sourceId === String(made.ticket.id));
    expect(issue).toMatchObject({ entity: 'ticket', status: 'mismatched' });
    expect(issue.detail).toContain('disk-image.iso');

    const target = await targetTicket(m, String(made.ticket.id));
    expect(target.comments[0].attachments.map((a) => a.fileName)).toEqual(['notes.txt']);
    expect(target.comments[0].body).toContain('[Attachments not carried');
    expect(target.comments[0].body).toContain('disk-image.iso (21.0 MB)');
  }, 300_000);
});
