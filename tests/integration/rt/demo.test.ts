import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCommand } from '../../../services/cli/wizard.commands.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

describe('hdm demo into a real RT (zendesk → rt)', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'rt', { tickets: 20, seed: 61, articles: 2, maxComments: 3, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  });
  afterAll(async () => m?.close());

  it('reports each ticket pair, names what RT cannot keep, and a re-run creates nothing', async () => {
    const run = async () => {
      const out = captureOutput();
      const code = await demoCommand(parseMigrationConfig(m.config), { count: 3, json: true }, out, m.env);
      return { code, report: JSON.parse(out.stdout.join('\n')) };
    };
    const { code, report } = await run();
    expect(code).toBe(0);
    // RT has no knowledge base: only tickets are picked.
    expect(report.records.map((r: any) => r.entity)).toEqual(['ticket', 'ticket', 'ticket']);
    for (const r of report.records) {
      expect(r).toMatchObject({ outcome: 'loaded', action: 'created', carriesSourceId: true });
      const res = await fetch(`${m.target.url}/REST/2.0/ticket/${r.targetId}`, { headers: { authorization: `token ${m.target.credentials.token}` } });
      expect(res.status).toBe(200);
      const ticket = (await res.json()) as { CustomFields: { name: string; values: string[] }[] };
      expect(ticket.CustomFields.find((f) => f.name === 'HDM Source ID')?.values).toEqual([`zendesk:${r.sourceId}`]);
      expect(r.targetUrl).toContain(`id=${r.targetId}`);
      const comments = r.checks.find((c: any) => c.field === 'comments');
      expect(comments.limitations.join(' ')).toContain('comments.authorId');
      expect(r.checks.some((c: any) => c.status === 'differs')).toBe(false);
    }
    const fallbacks = report.mapping.fields.filter((f: any) => f.fallback).map((f: any) => f.sourceType).sort();
    expect(fallbacks).toEqual(['checkbox', 'decimal', 'integer', 'regex']);

    const tickets = m.target.counts().ticket;
    const again = await run();
    expect(again.code).toBe(0);
    expect(again.report.records.map((r: any) => `${r.sourceId}→${r.targetId}:${r.action}`)).toEqual(report.records.map((r: any) => `${r.sourceId}→${r.targetId}:unchanged`));
    expect(m.target.counts().ticket).toBe(tickets);
  });
});
