import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WriteContext } from '../../../connectors/sdk/contract.ts';
import type { ZendeskConnector, ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import type { AttachmentMeta, Ticket } from '../../../schemas/canonical.ts';
import { DirectoryAttachmentStore } from '../../../services/loader/attachment-store.ts';
import { mapRecord } from '../../../services/mapper/record.mapping.ts';
import type { MappingRules } from '../../../services/mapper/rules.ts';
import { connect, sandbox } from './helpers.ts';

// Zendesk help center, "Attaching files to tickets": each file may be at most 50 MB, and no plan raises
// it. The reference does not show the refusal; the sandbox answers 413 (HTTP's status for a body over
// the server's limit). A larger source file (RT has no such limit) goes to the attachment location.

const MB = 1024 * 1024;
const BASE_URL = 'https://files.example.com/helpdesk';
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe("files over Zendesk's 50 MB per upload", () => {
  let target: ZendeskSandbox;
  let zd: ZendeskConnector;
  let dir: string;
  let owner: string;
  const big = new Uint8Array(50 * MB + 1).fill(7);
  const small = new Uint8Array(1000).fill(3);
  const files = new Map<string, Uint8Array>([
    ['a-big', big],
    ['a-small', small],
  ]);
  const meta = (sourceId: string, fileName: string): AttachmentMeta => ({ sourceId, fileName, contentType: 'application/octet-stream', size: files.get(sourceId)!.length, url: `rt://${sourceId}`, inline: false });
  const ticket = (sourceId: string): Ticket => {
    const at = '2024-05-01T10:00:00.000Z';
    return {
      sourceId,
      subject: `dump ${sourceId}`,
      status: 'open',
      priority: 'normal',
      type: null,
      requesterId: owner,
      assigneeId: null,
      groupId: null,
      organizationId: null,
      tags: [],
      customFields: {},
      createdAt: at,
      updatedAt: at,
      comments: [{ sourceId: `${sourceId}-c1`, authorId: owner, body: '<p>The core dump and the log.</p>', public: true, createdAt: at, attachments: [meta('a-big', 'core.dump'), meta('a-small', 'app.log')] }],
    };
  };
  const context = (sourceId: string, withStore: boolean): WriteContext => ({
    stamp: `rt:${sourceId}`,
    knownChildren: {},
    openAttachment: async (a) => ({ body: files.get(a.sourceId)!, contentType: a.contentType }),
    attachmentStore: withStore ? new DirectoryAttachmentStore({ directory: dir, baseUrl: BASE_URL }) : undefined,
  });

  beforeAll(async () => {
    target = await sandbox({ tickets: 0, seed: 41, immediateExports: 'the reader reads back at once the tickets the writer has just made' });
    zd = connect(target);
    const users = (await (await fetch(`${target.url}/api/v2/users.json`, { headers: { authorization: `Basic ${Buffer.from(`${target.credentials.email}/token:${target.credentials.apiToken}`).toString('base64')}` } })).json()) as { users: { id: number }[] };
    owner = String(users.users[0].id);
    dir = mkdtempSync(join(tmpdir(), 'hdm-zd-files-'));
  });
  afterAll(async () => {
    await zd?.close();
    await target?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the sandbox refuses an upload over 50 MB with 413', async () => {
    const res = await fetch(`${target.url}/api/v2/uploads.json?filename=core.dump`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${target.credentials.email}/token:${target.credentials.apiToken}`).toString('base64')}`, 'content-type': 'application/binary' },
      body: big,
    });
    expect(res.status).toBe(413);
  });

  it('keeps the larger file at the attachment location, linked from its comment, and reads it back as an attachment', async () => {
    const ref = await zd.create('ticket', ticket('t-1'), context('t-1', true));
    const back = (await zd.get('ticket', ref.targetId))!;
    const [comment] = back.comments;
    expect(comment.body).toBe('<p>The core dump and the log.</p>');
    expect(comment.attachments.map((a) => [a.fileName, a.size, a.url.startsWith(`${BASE_URL}/`)])).toEqual([
      ['app.log', small.length, false],
      ['core.dump', big.length, true],
    ]);
    const linked = comment.attachments.find((a) => a.fileName === 'core.dump')!;
    const path = join(dir, ...linked.url.slice(BASE_URL.length + 1).split('/').map(decodeURIComponent));
    expect(sha(new Uint8Array(readFileSync(path)))).toBe(sha(big));
    const held = await zd.openAttachment(comment.attachments.find((a) => a.fileName === 'app.log')!);
    expect(sha(held.body)).toBe(sha(small));
    expect(readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())).toHaveLength(1);
  });

  it('without an attachment location names the file in its comment instead of failing the ticket', async () => {
    const ref = await zd.create('ticket', ticket('t-2'), context('t-2', false));
    const [comment] = (await zd.get('ticket', ref.targetId))!.comments;
    expect(comment.attachments.map((a) => a.fileName)).toEqual(['app.log']);
    expect(comment.body).toContain('[Attachments not carried: Zendesk takes at most 50.0 MB per file: core.dump (50.0 MB)]');
  });

  it('the mapper counts the file in the run report, linked or not carried', () => {
    const rules = (links: boolean): MappingRules => ({
      capabilities: zd.capabilities,
      skipAttachments: false,
      statusMap: {},
      priorityMap: {},
      typeMap: {},
      attachmentLinks: links ? { directory: dir, baseUrl: BASE_URL } : undefined,
    });
    const notes = (links: boolean) => {
      const mapped = mapRecord('ticket', ticket('t-3'), rules(links));
      return mapped.kind === 'planned' ? mapped.notes : [];
    };
    expect(notes(true).filter((n) => n.startsWith('attachments-linked:'))).toEqual([expect.stringContaining('core.dump (52428801 bytes) over the target\'s 50.0 MB per file')]);
    expect(notes(false).filter((n) => n.startsWith('attachments-not-carried:'))).toHaveLength(1);
  });
});
