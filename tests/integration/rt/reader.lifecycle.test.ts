import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtConnector } from '../../../connectors/rt/rt.connector.ts';
import { RT_CAPABILITIES } from '../../../connectors/rt/rt.writer.ts';
import { FRESHDESK_CAPABILITIES } from '../../../connectors/freshdesk/freshdesk.writer.ts';
import type { Ticket } from '../../../schemas/canonical.ts';
import { destroyRt, ensureRt, type RtInstance } from '../../../tools/launcher/rt.launcher.ts';
import { mapRecord } from '../../../services/mapper/record.mapping.ts';
import { suggestMapping } from '../../../services/mapper/suggest.ts';
import { parse } from 'yaml';

// A real RT 5 with a custom lifecycle, as RT admins define them in RT_SiteConfig: a queue whose
// tickets end "cancelled by customer" (inactive, i.e. done) or wait "waiting on vendor" (active).
const LIFECYCLE = `Set(%Lifecycles,
  'support' => {
    initial => ['new'],
    active => ['open', 'waiting on vendor'],
    inactive => ['resolved', 'cancelled by customer', 'deleted'],
    defaults => { on_create => 'new', approved => 'open', denied => 'cancelled by customer', reminder_on_open => 'open', reminder_on_resolve => 'resolved' },
    transitions => {
      '' => ['new', 'open', 'resolved'],
      'new' => ['open', 'waiting on vendor', 'resolved', 'cancelled by customer', 'deleted'],
      'open' => ['new', 'waiting on vendor', 'resolved', 'cancelled by customer', 'deleted'],
      'waiting on vendor' => ['new', 'open', 'resolved', 'cancelled by customer', 'deleted'],
      'resolved' => ['new', 'open', 'waiting on vendor', 'cancelled by customer', 'deleted'],
      'cancelled by customer' => ['new', 'open', 'waiting on vendor', 'resolved', 'deleted'],
      'deleted' => ['new', 'open', 'waiting on vendor', 'resolved', 'cancelled by customer'],
    },
    rights => { '* -> deleted' => 'DeleteTicket', '* -> *' => 'ModifyTicket' },
    actions => [],
  },
  __maps__ => {
    'default -> support' => { new => 'new', open => 'open', stalled => 'waiting on vendor', resolved => 'resolved', rejected => 'cancelled by customer', deleted => 'deleted' },
    'support -> default' => { new => 'new', open => 'open', 'waiting on vendor' => 'stalled', resolved => 'resolved', 'cancelled by customer' => 'rejected', deleted => 'deleted' },
  },
);`;

const name = `lifecycle-${process.pid}`;
let instance: RtInstance;
let c: RtConnector;
const subjects: Record<string, string> = { 'cancelled by customer': 'Customer withdrew', 'waiting on vendor': 'Parts on order', rejected: 'Spam' };

beforeAll(async () => {
  instance = await ensureRt({ name, siteConfig: LIFECYCLE });
  c = new RtConnector({ url: instance.url, credentials: instance.credentials });
  await c.client.post('queue', { Name: 'Support', Lifecycle: 'support' });
  for (const [status, subject] of Object.entries(subjects)) {
    const queue = status === 'rejected' ? 'General' : 'Support';
    const res = await c.client.post<{ id: string }>('ticket', { Queue: queue, Subject: subject, Content: 'details', ContentType: 'text/plain' });
    await c.client.put(`ticket/${res.body.id}`, { Status: status });
  }
});
afterAll(async () => {
  await c?.close();
  await destroyRt({ name });
});

describe('RT custom lifecycles', () => {
  it('custom statuses do not collapse to open: inactive ones read as closed, active ones as open, RT names kept', async () => {
    const read: Ticket[] = [];
    for await (const page of c.read('ticket', null)) read.push(...page.records.map((e) => e.record as Ticket));
    const bySubject = new Map(read.map((t) => [t.subject, t]));
    expect(bySubject.get('Customer withdrew')).toMatchObject({ status: 'closed', sourceStatus: 'cancelled by customer' });
    expect(bySubject.get('Parts on order')).toMatchObject({ status: 'open', sourceStatus: 'waiting on vendor' });
    expect(bySubject.get('Spam')).toMatchObject({ status: 'closed', sourceStatus: 'rejected' });
    // Only the custom status is closed because RT counts it done: what the report counts as such.
    expect(bySubject.get('Customer withdrew')!.closedByInactivity).toBe(true);
    expect(bySubject.get('Spam')!.closedByInactivity).toBeUndefined();
    expect(bySubject.get('Parts on order')!.closedByInactivity).toBeUndefined();

    // Into Freshdesk: closed by default, and statusMap takes the RT name of a custom status.
    const rules = { capabilities: FRESHDESK_CAPABILITIES, skipAttachments: false, priorityMap: {}, typeMap: {} };
    const planned = (t: Ticket, statusMap: Record<string, Ticket['status']>) => {
      const r = mapRecord('ticket', t, { ...rules, statusMap });
      if (r.kind !== 'planned') throw new Error('filtered');
      return r.record.status;
    };
    expect(planned(bySubject.get('Customer withdrew')!, {})).toBe('closed');
    expect(planned(bySubject.get('Parts on order')!, { 'waiting on vendor': 'pending' })).toBe('pending');
    expect(planned(bySubject.get('Parts on order')!, {})).toBe('open');
  });

  it('lists the statuses tickets are in, custom ones with whether RT counts them done; mapping suggest offers them', async () => {
    const statuses = await c.sourceStatuses();
    expect(statuses).toEqual(
      expect.arrayContaining([
        { name: 'cancelled by customer', status: 'closed', inactive: true },
        { name: 'waiting on vendor', status: 'open', inactive: false },
        { name: 'resolved', status: 'solved', inactive: true },
      ]),
    );
    expect(statuses.filter((s) => s.name === 'cancelled by customer')).toHaveLength(1);
    const schema = { platform: 'rt', ticketFields: [], groups: [], agents: [], capabilities: RT_CAPABILITIES, statuses };
    const target = { platform: 'freshdesk', ticketFields: [], groups: [], agents: [], capabilities: FRESHDESK_CAPABILITIES };
    const text = suggestMapping({}, schema, target);
    const doc = parse(text) as { options: { statusMap: Record<string, string> } };
    expect(doc.options.statusMap['cancelled by customer']).toBe('closed');
    expect(doc.options.statusMap['waiting on vendor']).toBe('open');
    expect(text).toContain('cancelled by customer: inactive (done) at the source');
  });
});
