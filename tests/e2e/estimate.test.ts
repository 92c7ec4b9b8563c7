import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '../../connectors/registry.ts';
import { zendesk, type ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import type { FreshdeskSandbox } from '../../connectors/freshdesk/sandbox/server.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { migrateCommand } from '../../services/cli/commands.ts';
import { estimateCommand } from '../../services/cli/estimate.command.ts';
import { estimateMigration, type Estimate } from '../../services/estimate/estimate.ts';
import { HdmError } from '../../schemas/errors.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

async function estimate(m: MigrationEnv, config: Record<string, unknown>, flags: { sampleTickets?: number } = {}): Promise<Estimate> {
  const out = captureOutput();
  expect(await estimateCommand(parseMigrationConfig(config), { json: true, ...flags }, out, m.env)).toBe(0);
  return JSON.parse(out.stdout.join('\n')) as Estimate;
}

const withRpm = (config: Record<string, unknown>, rpm: number) => ({
  ...config,
  source: { ...(config.source as object), requestsPerMinute: rpm },
  target: { ...(config.target as object), requestsPerMinute: rpm },
});

for (const [from, to] of [
  ['zendesk', 'freshdesk'],
  ['freshdesk', 'zendesk'],
] as const) {
  describe(`hdm estimate ${from} → ${to}`, () => {
    let m: MigrationEnv;
    beforeAll(async () => {
      m = await migrationEnv(from, to, { tickets: 30, seed: 5, articles: 5, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, {}, { unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    });
    afterAll(async () => m?.close());

    it('counts cheaply what a full migration then loads, and projects a duration that follows the rate limit', async () => {
      const servedBefore = m.source.requestsServed();
      const e = await estimate(m, m.config, { sampleTickets: 0 });
      const countRequests = m.source.requestsServed() - servedBefore;
      // Count endpoints and totals, not a read of the tickets with their comments.
      expect(e.entities.ticket!.method).toBe('count');
      expect(e.entities.contact!.method).toBe('count');
      expect(e.entities.organization!.method).toBe('count');
      expect(countRequests).toBeLessThan(e.entities.ticket!.count + e.entities.contact!.count);
      expect(m.target.counts().ticket).toBe(0);

      // Comments and attachments as the source holds them (every ticket read, so exact).
      const full = await estimate(m, m.config, { sampleTickets: 1000 });
      const source = (await platform(from)).createConnector({ url: m.source.url, credentials: m.source.credentials });
      let comments = 0;
      let attachments = 0;
      for await (const page of source.read('ticket', null)) {
        for (const env of page.records) {
          if (env.op !== 'upsert') continue;
          comments += (env.record as Ticket).comments.length;
          for (const c of (env.record as Ticket).comments) attachments += c.attachments.length;
        }
      }
      await source.close();
      expect(full.conversation).toEqual({ comments, attachments, sampledTickets: 30, exact: true, drawn: 'all' });
      expect(comments).toBeGreaterThan(30);
      // A sample extrapolates to the whole account.
      const sampled = await estimate(m, m.config, { sampleTickets: 10 });
      expect(sampled.conversation.exact).toBe(false);
      expect(sampled.conversation.sampledTickets).toBeGreaterThanOrEqual(10);
      expect(sampled.conversation.comments).toBeGreaterThan(comments / 4);
      expect(sampled.conversation.comments).toBeLessThan(comments * 4);

      const migrated = captureOutput();
      const sourceServed = m.source.requestsServed();
      const targetServed = m.target.requestsServed();
      expect(await migrateCommand(parseMigrationConfig(m.config), { json: true, progress: false, verify: false }, migrated, m.env)).toBe(0);
      const measured = { source: m.source.requestsServed() - sourceServed, target: m.target.requestsServed() - targetServed };
      const run = JSON.parse(migrated.stdout.join('\n'));
      let billable = 0;
      for (const [entity, counted] of Object.entries(e.entities)) {
        const c = run.counts[entity];
        expect(counted!.count, entity).toBe(c.loaded + c.filtered + c.failed);
        if (counted!.billable) billable += counted!.count;
      }
      expect(e.billable).toBe(billable);
      expect(e.entities.ticket!.count).toBe(30);
      expect(e.entities.ticketField!.billable).toBe(false);

      // The projection: positive per phase, in load order, and proportional to the rate limit.
      expect(full.phases.map((p) => p.entity)).toEqual(Object.keys(full.entities));
      for (const p of full.phases) expect(p.seconds, p.entity).toBeGreaterThan(0);
      const projected = {
        source: full.phases.reduce((n, p) => n + p.sourceRequests, 0),
        target: full.phases.reduce((n, p) => n + p.targetRequests, 0),
      };
      // Requests the migration really made, against the projection: the same order of magnitude.
      console.log(`${from} → ${to}: projected ${JSON.stringify(projected)}, served ${JSON.stringify(measured)}`);
      expect(projected.source).toBeGreaterThan(measured.source / 3);
      expect(projected.source).toBeLessThan(measured.source * 3);
      expect(projected.target).toBeGreaterThan(measured.target / 3);
      expect(projected.target).toBeLessThan(measured.target * 3);

      const fast = await estimate(m, withRpm(m.config, 600), { sampleTickets: 1000 });
      const slow = await estimate(m, withRpm(m.config, 300), { sampleTickets: 1000 });
      expect(fast.source).toMatchObject({ requestsPerMinute: 600, rateFrom: 'config' });
      expect(slow.totalSeconds / fast.totalSeconds).toBeGreaterThan(1.9);
      expect(slow.totalSeconds / fast.totalSeconds).toBeLessThan(2.1);
      for (const [i, p] of fast.phases.entries()) {
        expect(p.limitedBy, p.entity).toMatch(/rate limit/);
        expect(slow.phases[i].seconds / p.seconds, p.entity).toBeCloseTo(2, 5);
      }
      // A limit above the platform's changes nothing; one request in flight is slower than the limits.
      const above = await estimate(m, withRpm(m.config, 100_000), { sampleTickets: 1000 });
      expect(above.source).toMatchObject({ rateFrom: 'platform' });
      const single = { ...m.config, source: { ...(m.config.source as object), concurrency: 1 }, target: { ...(m.config.target as object), concurrency: 1 } };
      const capped = await estimate(m, single, { sampleTickets: 1000 });
      expect(capped.phases.every((p) => p.limitedBy.endsWith('concurrency'))).toBe(true);
    }, 120_000);
  });
}

describe('hdm estimate reads each platform\'s own rate limit', () => {
  it('halving the accounts\' limits doubles the projected duration', async () => {
    const projections: Estimate[] = [];
    for (const rpm of [400, 200]) {
      const source = await (await platform('zendesk')).startSandbox({ tickets: 10, seed: 4, articles: 2, requestsPerMinute: rpm });
      const target = await (await platform('freshdesk')).startSandbox({ tickets: 0, seed: 9, requestsPerMinute: rpm });
      try {
        const config = parseMigrationConfig({
          name: 'limits',
          source: { platform: 'zendesk', url: source.url },
          target: { platform: 'freshdesk', url: target.url },
        });
        const out = captureOutput();
        expect(await estimateCommand(config, { json: true }, out, { ...process.env, ...source.env, ...target.env })).toBe(0);
        projections.push(JSON.parse(out.stdout.join('\n')));
      } finally {
        await Promise.allSettled([source.close(), target.close()]);
      }
    }
    const [fast, slow] = projections;
    expect(fast.source).toMatchObject({ requestsPerMinute: 400, rateFrom: 'platform' });
    expect(fast.target).toMatchObject({ requestsPerMinute: 400, rateFrom: 'platform' });
    expect(slow.source.requestsPerMinute).toBe(200);
    expect(slow.target.requestsPerMinute).toBe(200);
    expect(slow.totalSeconds / fast.totalSeconds).toBeCloseTo(2, 5);
  }, 60_000);
});

describe('hdm estimate where a count API is refused', () => {
  it('reads the records instead and says so', async () => {
    const zd = await (await platform('zendesk')).startSandbox({ tickets: 10, seed: 8, articles: 1 });
    const fd = await (await platform('freshdesk')).startSandbox({ tickets: 0, seed: 9 });
    const source = (await platform('zendesk')).createConnector({ url: zd.url, credentials: zd.credentials });
    const target = (await platform('freshdesk')).createConnector({ url: fd.url, credentials: fd.credentials });
    try {
      // As an account whose plan has no ticket count would answer.
      const refusing = Object.create(source) as typeof source;
      refusing.count = async (entity) => {
        if (entity === 'ticket') throw new HdmError('REJECTED', 'zendesk GET /api/v2/tickets/count answered 403', { context: { httpStatus: 403 } });
        return source.count!(entity);
      };
      const e = await estimateMigration(refusing, target, {
        entities: ['group', 'ticket'],
        source: { requestsPerMinute: 0, concurrency: 8 },
        target: { requestsPerMinute: 0, concurrency: 8 },
      });
      expect(e.entities.ticket).toEqual({ count: 10, method: 'scan', billable: true });
      expect(e.entities.group!.method).toBe('count');
      expect(e.conversation.exact).toBe(true);
      // Anything else (the platform unreachable, the credentials refused) is not papered over.
      refusing.count = async () => {
        throw new HdmError('AUTH_FAILED', 'refused');
      };
      await expect(estimateMigration(refusing, target, { entities: ['ticket'], source: { requestsPerMinute: 0, concurrency: 8 }, target: { requestsPerMinute: 0, concurrency: 8 } })).rejects.toThrow('refused');
    } finally {
      await Promise.allSettled([source.close(), target.close(), zd.close(), fd.close()]);
    }
  }, 60_000);
});

describe('hdm estimate per limit bucket, against sandboxes at Enterprise limits', () => {
  it('prints what each bucket of both sides is asked for, the time it needs and which one binds, in text and JSON', async () => {
    const source = await (await platform('zendesk')).startSandbox({ tickets: 12, seed: 3, articles: 2, plan: 'enterprise' });
    const target = await (await platform('freshdesk')).startSandbox({ tickets: 0, seed: 9, plan: 'enterprise' });
    try {
      const config = parseMigrationConfig({
        name: 'buckets',
        source: { platform: 'zendesk', url: source.url, plan: 'enterprise' },
        target: { platform: 'freshdesk', url: target.url, plan: 'enterprise' },
      });
      const env = { ...process.env, ...source.env, ...target.env };
      const json = captureOutput();
      expect(await estimateCommand(config, { json: true }, json, env)).toBe(0);
      const e = JSON.parse(json.stdout.join('\n')) as Estimate;
      const bucket = (side: string, name: string) => e.buckets.find((b) => b.side === side && b.bucket === name);
      // Ticket creates draw Freshdesk's Ticket Create bucket (280 a minute on Enterprise), once per ticket.
      expect(bucket('target', 'ticket-create')).toMatchObject({ requests: 12, limit: 280, windowSeconds: 60 });
      expect(bucket('source', 'incremental-exports')).toMatchObject({ limit: 10 });
      expect(bucket('source', 'help-center')!.requests).toBeGreaterThan(0);
      const binding = e.buckets.filter((b) => b.binding);
      expect(binding).toHaveLength(1);
      expect(e.binding).toBe(`${binding[0].side}/${binding[0].bucket}`);
      for (const b of e.buckets) if (b.seconds !== null) expect(b.seconds, b.bucket).toBeCloseTo((b.used / b.limit) * b.windowSeconds, 6);
      for (const p of e.phases) expect(p.bucket, p.entity).toMatch(/^(source|target)\//);

      const text = captureOutput();
      expect(await estimateCommand(config, { progress: false }, text, env)).toBe(0);
      const out = text.stdout.join('\n');
      expect(out).toMatch(/^target ticket-create\s+280 \/ 1 min\s+12\s+12\s+\d+ s$/m);
      expect(out).toContain(`binding bucket: ${e.binding}`);
      expect(out).toMatch(new RegExp(`^${binding[0].side} ${binding[0].bucket}\\s.*binding$`, 'm'));
    } finally {
      await Promise.allSettled([source.close(), target.close()]);
    }
  }, 60_000);
});

describe('hdm estimate with Zendesk `source.comments: events`', () => {
  it('counts the event export pages and List Comments only for the tickets a read of the events falls back on', async () => {
    const source = await zendesk.startSandbox({ tickets: 40, seed: 11, plan: 'enterprise' });
    const target = await (await platform('freshdesk')).startSandbox({ tickets: 0, seed: 9, plan: 'enterprise' });
    try {
      const config = (comments: string) =>
        parseMigrationConfig({
          name: 'events',
          entities: ['ticket'],
          source: { platform: 'zendesk', url: source.url, plan: 'enterprise', comments },
          target: { platform: 'freshdesk', url: target.url, plan: 'enterprise' },
        });
      const env = { ...process.env, ...source.env, ...target.env };
      const run = async (comments: string) => {
        const out = captureOutput();
        expect(await estimateCommand(config(comments), { json: true, sampleTickets: 1000 }, out, env)).toBe(0);
        return JSON.parse(out.stdout.join('\n')) as Estimate;
      };
      const e = await run('events');
      const perTicket = await run('per-ticket');

      // What a read of the tickets with `events` asks of the sandbox, route by route.
      const before = source.requestsByRoute();
      const reader = zendesk.createConnector({ url: source.url, credentials: source.credentials, plan: 'enterprise', comments: 'events' });
      for await (const page of reader.read('ticket', null)) void page;
      await reader.close();
      const after = source.requestsByRoute();
      const served = (route: string) => Object.entries(after).reduce((n, [path, count]) => n + (path.startsWith(route) ? count - (before[path] ?? 0) : 0), 0);
      const commentLists = served('GET /api/v2/tickets/');
      const eventPages = served('GET /api/v2/incremental/ticket_events');

      expect(e.perTicketReads).toMatchObject({ needed: commentLists, sampledTickets: 40 });
      expect(commentLists).toBeGreaterThan(0);
      expect(commentLists).toBeLessThan(40);
      const ticket = e.phases.find((p) => p.entity === 'ticket')!;
      // The ticket export's one page and the event pages, through the export bucket; the comment lists through the account's.
      expect(ticket.buckets).toContainEqual({ side: 'source', bucket: 'incremental-exports', requests: 1 + eventPages, used: 1 + eventPages });
      expect(ticket.buckets).toContainEqual({ side: 'source', bucket: 'account', requests: 1 + eventPages + commentLists, used: 1 + eventPages + commentLists });
      expect(perTicket.perTicketReads).toBeNull();
      // Per ticket: a comment list for each of the 40 tickets and no event pages (attachment downloads alike).
      expect(perTicket.phases.find((p) => p.entity === 'ticket')!.sourceRequests).toBe(ticket.sourceRequests - eventPages - commentLists + 40);

      const text = captureOutput();
      expect(await estimateCommand(config('events'), { progress: false, sampleTickets: 1000 }, text, env)).toBe(0);
      expect(text.stdout.join('\n')).toContain(`tickets read with a request of their own: ${Math.round((commentLists / 40) * 100)}% (${commentLists} of 40 sampled); assumes comments from the ticket event export`);
    } finally {
      await Promise.allSettled([source.close(), target.close()]);
    }
  }, 60_000);
});

describe('hdm estimate samples conversations across the whole ticket history', () => {
  // A helpdesk's oldest tickets are seldom like the rest; here the newer half of the tickets holds long
  // threads and the older half short ones. A read hands out the oldest first, so a sample of the first
  // tickets sees short threads only; one drawn across the ticket IDs sees both halves.
  for (const from of ['freshdesk', 'zendesk'] as const) {
    it(`${from}: draws the sample across the ticket IDs and projects the comments the source holds`, async () => {
      const to = from === 'zendesk' ? 'freshdesk' : 'zendesk';
      const m = await migrationEnv(from, to, { tickets: 60, seed: 11, articles: 1, maxComments: 2, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, {}, { unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
      try {
        const zendeskSource = m.source as ZendeskSandbox;
        for (let id = 31; id <= 60; id++) {
          // Zendesk refuses a comment on a closed ticket ("ClosedTicketUpdate"): those keep their short thread.
          if (from === 'zendesk' && zendeskSource.store.ticketJson(zendeskSource.store.materialize(id)).status === 'closed') continue;
          for (let i = 0; i < 12; i++) {
            if (from === 'zendesk') zendeskSource.addComment(id, { body: `Follow-up ${i}`, public: true });
            else (m.source as FreshdeskSandbox).addConversation(id, { body: `Follow-up ${i}` });
          }
        }
        const reader = (await platform(from)).createConnector({ url: m.source.url, credentials: m.source.credentials });
        // Every ticket by ID (Zendesk's export would leave out the last minute's changes).
        let tickets = 0;
        let comments = 0;
        for (let id = 1; id <= 60; id++) {
          const t = await reader.get('ticket', String(id));
          if (!t) continue;
          tickets += 1;
          comments += t.comments.length;
        }
        await reader.close();
        expect(tickets).toBe(60);
        const sampled = await estimate(m, m.config, { sampleTickets: 12 });
        const exact = { conversation: { comments: Math.round((comments * sampled.entities.ticket!.count) / tickets) } };
        expect(sampled.conversation).toMatchObject({ exact: false, drawn: 'across-ids', sampledTickets: 12 });
        // Half the sample from each half of the IDs: within a fifth of the true count (the first 12 tickets
        // read would project well under half of it).
        expect(sampled.conversation.comments).toBeGreaterThan(exact.conversation.comments * 0.8);
        expect(sampled.conversation.comments).toBeLessThan(exact.conversation.comments * 1.2);
      } finally {
        await m.close();
      }
    }, 120_000);
  }
});
