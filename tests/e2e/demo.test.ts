import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCommand } from '../../services/cli/wizard.commands.ts';
import { formatDemo } from '../../services/demo/demo.report.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { readAll } from '../../connectors/sdk/read-all.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

/** Each platform's public API, as a person checking the demo's links would read it. */
function apis(m: MigrationEnv) {
  const call = async (base: string, auth: string, path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: auth } });
    return { status: res.status, body: res.status === 200 ? ((await res.json()) as any) : null };
  };
  const zd = `Basic ${Buffer.from(`${m.source.credentials.email}/token:${m.source.credentials.apiToken}`).toString('base64')}`;
  const fd = `Basic ${Buffer.from(`${m.target.credentials.apiKey}:X`).toString('base64')}`;
  return { zendesk: (path: string) => call(m.source.url, zd, path), freshdesk: (path: string) => call(m.target.url, fd, path) };
}

async function demo(m: MigrationEnv, extra: Record<string, unknown>, flags: Parameters<typeof demoCommand>[1]) {
  const out = captureOutput();
  const code = await demoCommand(parseMigrationConfig({ ...m.config, ...extra }), { ...flags, json: true }, out, m.env);
  return { code, report: JSON.parse(out.stdout.join('\n')) };
}

describe('hdm demo (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 80, seed: 52, articles: 10, maxComments: 4, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  });
  afterAll(async () => m?.close());

  it('refuses IDs the source does not have, before any request to the target', async () => {
    const before = m.target.requestsServed();
    const err = await demo(m, {}, { tickets: ['3', '99999'] }).catch((e) => e);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('--tickets: the source (zendesk) has no ticket 99999');
    expect(m.target.requestsServed()).toBe(before);
  });

  let first: any;
  it('moves random tickets and articles with what they reference, and reports pairs that hold on both sandboxes', async () => {
    const before = m.target.counts();
    const { code, report } = await demo(m, {}, { count: 6 });
    first = report;
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.selection).toBe('random');
    const tickets = report.records.filter((r: any) => r.entity === 'ticket');
    const articles = report.records.filter((r: any) => r.entity === 'kbArticle');
    expect(tickets).toHaveLength(6);
    expect(articles).toHaveLength(6);
    expect(new Set(tickets.map((r: any) => r.sourceId)).size).toBe(6);
    // Exactly the picked tickets and articles were created, and the contacts they reference came along.
    expect(m.target.counts().ticket - before.ticket).toBe(6);
    expect(m.target.counts().kbArticle - before.kbArticle).toBe(6);
    expect(report.loaded.contact.created).toBeGreaterThan(0);
    expect(formatDemo(report, null)).toContain('kept visibly: original_created_at: ');

    const api = apis(m);
    for (const r of tickets) {
      expect(r).toMatchObject({ outcome: 'loaded', action: 'created', carriesSourceId: true, stamp: `zendesk:${r.sourceId}` });
      expect(r.sourceUrl).toContain(`/tickets/${r.sourceId}`);
      expect(r.targetUrl).toContain(`/tickets/${r.targetId}`);
      const src = await api.zendesk(`/api/v2/tickets/${r.sourceId}.json`);
      const dst = await api.freshdesk(`/api/v2/tickets/${r.targetId}`);
      expect(src.status).toBe(200);
      expect(dst.status).toBe(200);
      expect(dst.body.custom_fields.cf_hdm_source_id).toBe(`zendesk:${r.sourceId}`);
      // Freshdesk stamps its own creation times: the originals are kept visibly, and the report shows them.
      expect(r.originals).toEqual([`original_created_at: ${String(src.body.ticket.created_at).slice(0, 10)}`, expect.stringMatching(/^header: "Originally written by (zendesk user \d+|an unknown zendesk user) on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"$/)]);
      expect(dst.body.subject).toBe(src.body.ticket.subject);
      // The requester arrived as a contact with the same email.
      const requester = await api.zendesk(`/api/v2/users/${src.body.ticket.requester_id}.json`);
      const contact = await api.freshdesk(`/api/v2/contacts/${dst.body.requester_id}`);
      expect(contact.status).toBe(200);
      expect(contact.body.email ?? null).toBe(requester.body.user.email ?? null);
      // Field by field: nothing differs; what Freshdesk cannot keep is named as such.
      expect(r.checks.filter((c: any) => c.status === 'differs')).toEqual([]);
      expect(r.checks.map((c: any) => c.field)).toEqual(expect.arrayContaining(['subject', 'status', 'customFields', 'comments', 'tags']));
      const comments = r.checks.find((c: any) => c.field === 'comments');
      expect(comments.limitations.join(' ')).toContain('comments.createdAt');
    }
    for (const r of articles) {
      const src = await api.zendesk(`/api/v2/help_center/articles/${r.sourceId}.json`);
      const dst = await api.freshdesk(`/api/v2/solutions/articles/${r.targetId}`);
      expect(dst.status).toBe(200);
      expect(dst.body.title).toBe(src.body.article.title);
      expect(r.targetUrl).toContain(String(r.targetId));
    }
    expect(existsSync(report.files.html)).toBe(true);
    const html = readFileSync(report.files.html, 'utf8');
    for (const r of report.records) expect(html).toContain(`href="${r.sourceUrl}"`);
    expect(JSON.parse(readFileSync(report.files.json, 'utf8')).runId).toBe(report.runId);
    expect(report.mapping.reassigned.map((a: any) => a.reason).sort()).toEqual(['deactivated', 'deactivated', 'deleted']);
  });

  it('a re-run with a changed mapping updates the same target records instead of duplicating them', async () => {
    const before = m.target.counts();
    const { code, report } = await demo(m, { options: { addTag: 'demo-v2' } }, {});
    expect(code).toBe(0);
    expect(report.selection).toBe('previous');
    const pairs = (r: any) => r.records.map((x: any) => `${x.entity}:${x.sourceId}→${x.targetId}`).sort();
    expect(pairs(report)).toEqual(pairs(first));
    expect(m.target.counts()).toEqual(before);
    const api = apis(m);
    for (const r of report.records.filter((x: any) => x.entity === 'ticket')) {
      expect(r.action).toBe('updated');
      expect((await api.freshdesk(`/api/v2/tickets/${r.targetId}`)).body.tags).toContain('demo-v2');
    }
    for (const r of report.records.filter((x: any) => x.entity === 'kbArticle')) expect(r.action).toBe('unchanged');
  });

  it('takes the tickets and articles the user names, attachments included', async () => {
    const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
    const withFiles = (await readAll(rt.source, 'ticket'))
      .map((e) => e.record as Ticket)
      .filter((t) => t.comments.some((c) => c.attachments.length > 0))
      .slice(0, 2);
    await rt.close();
    expect(withFiles).toHaveLength(2);
    const article = first.records.find((r: any) => r.entity === 'kbArticle').sourceId;
    const { code, report } = await demo(m, {}, { tickets: withFiles.map((t) => t.sourceId), articles: [article] });
    expect(code).toBe(0);
    expect(report.selection).toBe('given');
    expect(report.records.map((r: any) => `${r.entity}:${r.sourceId}`)).toEqual([...withFiles.map((t) => `ticket:${t.sourceId}`), `kbArticle:${article}`]);
    expect(report.records.every((r: any) => r.targetId && r.carriesSourceId !== false)).toBe(true);
    const api = apis(m);
    for (const t of withFiles) {
      const r = report.records.find((x: any) => x.sourceId === t.sourceId);
      expect(r.checks.find((c: any) => c.field === 'comments').status).not.toBe('differs');
      const dst = await api.freshdesk(`/api/v2/tickets/${r.targetId}`);
      const notes = await api.freshdesk(`/api/v2/tickets/${r.targetId}/conversations`);
      const files = [...dst.body.attachments, ...notes.body.flatMap((n: any) => n.attachments)].map((a: any) => a.name).sort();
      expect(files).toEqual(t.comments.flatMap((c) => c.attachments.map((a) => a.fileName)).sort());
    }
  });
});

describe('a full migration after demos (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 30, seed: 53, articles: 4, maxComments: 3, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  });
  afterAll(async () => m?.close());

  it('finds what the demo created and moves the rest, each source record once', async () => {
    const { report } = await demo(m, {}, { count: 5 });
    const demoed = report.records.filter((r: any) => r.entity === 'ticket');
    const { migrateCommand } = await import('../../services/cli/commands.ts');
    const out = captureOutput();
    expect(await migrateCommand(parseMigrationConfig(m.config), { json: true, progress: false }, out, m.env)).toBe(0);
    const result = JSON.parse(out.stdout.join('\n'));
    expect(result.clean).toBe(true);
    expect(result.entities.ticket).toMatchObject({ source: 30, loaded: 30, duplicates: 0 });
    expect(result.counts.ticket.created).toBe(25);
    expect(m.target.counts().ticket).toBe(30);
    expect(result.counts.ticket.unchanged + result.counts.ticket.updated).toBe(demoed.length);
  });
});

describe('hdm demo on a helpdesk larger than its pool (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 120, seed: 54, articles: 2, maxComments: 2, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  });
  afterAll(async () => m?.close());

  it('draws its random tickets by ID across the whole helpdesk, not from the first records a read returns', async () => {
    const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
    const range = await rt.source.idRange!('ticket');
    const first10 = new Set((await readAll(rt.source, 'ticket')).slice(0, 10).map((e) => e.sourceId));
    await rt.close();
    expect(range).toMatchObject({ lowest: 1, highest: 120 });
    const routes = () => (m.source as ZendeskSandbox).requestsByRoute();
    const served = (counts: Record<string, number>, pattern: RegExp) => Object.entries(counts).reduce((n, [route, c]) => n + (pattern.test(route) ? c : 0), 0);
    const before = routes();
    const { code, report } = await demo(m, {}, { count: 6, pool: 10 });
    const after = routes();
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    const picked: string[] = report.records.filter((r: any) => r.entity === 'ticket').map((r: any) => r.sourceId);
    expect(new Set(picked).size).toBe(6);
    expect(picked.every((id) => Number(id) >= 1 && Number(id) <= 120)).toBe(true);
    expect(picked.filter((id) => !first10.has(id)).length).toBeGreaterThan(0);
    // Only the drawn tickets were read: no ticket export page (a pool read takes one, with every
    // listed ticket's comments), and one comment list per drawn ticket, read again for the report.
    const exports = /incremental\/tickets/;
    const comments = /tickets\/:id\/comments/;
    expect(served(after, exports) - served(before, exports)).toBe(0);
    expect(served(after, comments) - served(before, comments)).toBeLessThanOrEqual(2 * 6);
    expect(m.target.counts().ticket).toBe(6);
  });
});
