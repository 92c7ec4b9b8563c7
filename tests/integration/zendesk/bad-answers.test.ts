import { afterEach, describe, expect, it } from 'vitest';
import type { Page } from '../../../connectors/sdk/contract.ts';
import { zendesk, type ZendeskConnector, type ZendeskConnectorConfig, type ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import type { Ticket } from '../../../schemas/canonical.ts';
import { faultProxy, type FaultProxy } from '../../helpers/fault-proxy.ts';
import { readAll, sandbox } from './helpers.ts';

// Integration: the Zendesk reader behind a proxy that cuts, reshapes and freezes the sandbox's answers.
let sb: ZendeskSandbox;
let proxy: FaultProxy;
let c: ZendeskConnector;

async function setUp(tickets: number, extra: Partial<ZendeskConnectorConfig> = {}) {
  sb = await sandbox({ tickets, seed: 81, maxComments: 3 });
  proxy = await faultProxy(sb.url);
  c = zendesk.createConnector({ url: proxy.url, credentials: sb.credentials, concurrency: 4, exportPageSize: 10, ticketBatch: 10, ...extra });
}

afterEach(async () => {
  await c?.close();
  await proxy?.close();
  await sb?.close();
});

/** Reads a stream until it ends or fails, keeping what it yielded before. */
async function readUntilFailure(entity: 'ticket'): Promise<{ pages: Page<'ticket'>[]; error: unknown }> {
  const pages: Page<'ticket'>[] = [];
  try {
    for await (const page of c.read(entity, null)) pages.push(page);
    return { pages, error: null };
  } catch (error) {
    return { pages, error };
  }
}

const laterExportPages = /incremental\/tickets\/cursor\.json\?.*cursor=/;

describe('zendesk reader against bad answers', () => {
  // Regression: a 200 export page with a truncated body read as no tickets; the run "succeeded" with 30 of 40 never read.
  it('reads an export page cut short again, and every ticket arrives', async () => {
    await setUp(40);
    proxy.add({ path: laterExportPages, times: 1, fault: { kind: 'truncate' } });
    const { upserts } = await readAll(c, 'ticket');
    expect(upserts.size).toBe(40);
    expect(proxy.faulted()).toBe(1);
  });

  it('fails the stream loudly when an export page is cut short on every try, never moving past it', async () => {
    await setUp(40, { maxAttempts: 2 });
    proxy.add({ path: laterExportPages, fault: { kind: 'truncate' } });
    const { pages, error } = await readUntilFailure('ticket');
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', context: { platform: 'zendesk', path: '/api/v2/incremental/tickets/cursor.json' } });
    // Only the first page, whose cursor covers nothing beyond it.
    expect(pages.flatMap((p) => p.records).length).toBe(10);
    expect(proxy.hits(laterExportPages)).toBe(2);
  });

  // Regression: a truncated comments page loaded the ticket with an empty description and 0 notes.
  it('fails a ticket whose comments page is cut short rather than reading it without comments', async () => {
    await setUp(5, { maxAttempts: 2 });
    const whole = await readAll(c, 'ticket');
    const [id, ticket] = [...whole.upserts.entries()].find(([, t]) => (t as Ticket).comments.length > 1)!;
    proxy.add({ path: new RegExp(`/tickets/${id}/comments\\.json`), fault: { kind: 'truncate' } });
    const { error } = await readUntilFailure('ticket');
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', context: { path: `/api/v2/tickets/${id}/comments.json` } });
    proxy.clear();
    proxy.add({ path: new RegExp(`/tickets/${id}/comments\\.json`), times: 1, fault: { kind: 'truncate' } });
    const again = await readAll(c, 'ticket');
    expect((again.upserts.get(id) as Ticket).comments.length).toBe((ticket as Ticket).comments.length);
  });

  // Regression: a wrong-shape answer failed with a bare "tickets is not iterable", naming neither platform nor endpoint.
  it('names platform and endpoint when an export page comes without its tickets list', async () => {
    await setUp(5);
    proxy.add({ path: /incremental\/tickets\/cursor/, fault: { kind: 'rewrite', rewrite: (body) => ({ ...body, tickets: { count: 5 } }) } });
    const { pages, error } = await readUntilFailure('ticket');
    expect(pages).toEqual([]);
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', context: { platform: 'zendesk', path: '/api/v2/incremental/tickets/cursor.json' } });
    expect((error as Error).message).toMatch(/^zendesk \/api\/v2\/incremental\/tickets\/cursor\.json answered without its "tickets" list/);
  });

  it('fails, not returns empty, when a list page comes without its list', async () => {
    await setUp(5);
    proxy.add({ path: /groups\.json/, fault: { kind: 'rewrite', rewrite: () => ({ meta: { has_more: false } }) } });
    await expect(readAll(c, 'group')).rejects.toMatchObject({ code: 'BAD_RESPONSE', context: { platform: 'zendesk', path: '/api/v2/groups.json' } });
  });

  // Regression: an export answering the same cursor forever (end_of_stream false) was asked for it 71,589 times.
  it('stops an export that answers the same cursor forever', async () => {
    await setUp(25);
    proxy.add({
      path: /incremental\/tickets\/cursor/,
      fault: { kind: 'rewrite', rewrite: (body, url) => ({ ...body, end_of_stream: false, after_cursor: url.searchParams.get('cursor') ?? body.after_cursor }) },
    });
    const { error } = await readUntilFailure('ticket');
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', retryable: false, context: { path: '/api/v2/incremental/tickets/cursor.json' } });
    expect((error as Error).message).toMatch(/did not advance/);
    expect(proxy.hits(/incremental\/tickets\/cursor/)).toBeLessThanOrEqual(6);
  }, 20_000);

  it('stops a time-based export whose pages end before where they were asked to start', async () => {
    await setUp(25);
    proxy.add({ path: /incremental\/organizations/, fault: { kind: 'rewrite', rewrite: (body) => ({ ...body, end_of_stream: false }) } });
    // The first page ends at its last record; every later one claims the same end, behind the next start.
    await expect(readAll(c, 'organization')).rejects.toMatchObject({ code: 'BAD_RESPONSE', context: { path: '/api/v2/incremental/organizations.json' } });
    expect(proxy.hits(/incremental\/organizations/)).toBeLessThanOrEqual(8);
  }, 20_000);
});
