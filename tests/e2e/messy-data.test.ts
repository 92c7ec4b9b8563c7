import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../services/cli/commands.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { verifyRuntime } from '../../services/reconciler/verify.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import type { Contact, Ticket } from '../../schemas/canonical.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

/**
 * The kinds of mess a real helpdesk holds, seeded through each source's own HTTP API: HTML with
 * scripts and handlers, images referenced by `cid:`, subjects in many scripts (emoji, right-to-left,
 * CJK, decomposed accents) or empty, a requester without an email, a long thread mixing public and
 * private messages. Every part must arrive, or the run's report must count what changed it.
 */

const SUBJECTS = ['😀 Ünïcödé שלום مرحبا 漢字テスト', 'Cafe\u0301 re\u0301sume\u0301 (decomposed)', ''];
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...Array.from({ length: 200 }, (_, i) => i % 251)]);
const PDF = new Uint8Array(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
const ACTIVE = ['<script', 'onclick', 'onerror', 'onmouseover', 'javascript:', '<iframe', 'steal('];

/** A description with every kind of active content next to the layout that must survive. */
const messyHtml = (image: string) =>
  '<div dir="rtl"><p onclick="steal()">שלום <b>bold</b> 😀 漢字</p><script>steal(document.cookie)</script>' +
  '<ul><li>first</li><li>second</li></ul><table><tr><td colspan="2">cell</td></tr></table>' +
  '<a href="javascript:steal()">bad link</a> <a href="https://example.com/doc">good link</a>' +
  `<p>Logo: <img src="${image}" alt="logo"></p><pre><code>if (a &lt; b) return;</code></pre>` +
  '<iframe src="https://evil.example/"></iframe></div>';

const THREAD = 40;
/** The thread's message i: every third private, every fifth with a handler to remove. */
const threadMessage = (i: number) => ({
  public: i % 3 !== 0,
  html: i % 5 === 0 ? `<p onmouseover="steal()">message ${i}</p>` : `<p>message ${i} — ok</p>`,
});
const SANITIZED_IN_THREAD = Array.from({ length: THREAD }, (_, i) => i).filter((i) => i % 5 === 0).length;

interface Seeded {
  messy: string;
  thread: string;
  empty: string;
}

async function migrate(m: MigrationEnv) {
  const config = parseMigrationConfig(m.config);
  const out = captureOutput();
  const code = await migrateCommand(config, { json: true, progress: false }, out, m.env);
  return { code, result: JSON.parse(out.stdout.join('\n')), config };
}

async function targetTickets(m: MigrationEnv, seeded: Seeded): Promise<Record<keyof Seeded, { source: Ticket; target: Ticket }>> {
  const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
  try {
    const ids = await rt.ledger.lookupIds('ticket', Object.values(seeded));
    const out = {} as Record<keyof Seeded, { source: Ticket; target: Ticket }>;
    for (const [key, sourceId] of Object.entries(seeded) as [keyof Seeded, string][]) {
      const entry = ids.get(sourceId);
      expect(entry?.targetId, `ticket ${key} (${sourceId}) has a target`).toBeTruthy();
      out[key] = { source: (await rt.source.get('ticket', sourceId)) as Ticket, target: (await rt.target.get('ticket', entry!.targetId)) as Ticket };
    }
    return out;
  } finally {
    await rt.close();
  }
}

function expectClean(bodies: string[]) {
  for (const body of bodies) for (const active of ACTIVE) expect(body, body).not.toContain(active);
}

const files = (t: Ticket) => t.comments.flatMap((c) => c.attachments.map((a) => `${a.fileName}:${a.size}`)).sort();

describe('messy data, zendesk → freshdesk: every part arrives or the report counts it', () => {
  let m: MigrationEnv;
  let seeded: Seeded;
  let noEmailUser: string;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 0, seed: 41, immediateExports: 'The records are seeded a moment before the migration reads them', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
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
    const me = (await zd('GET', 'users/me.json')).user;
    const agent = (await zd('POST', 'users.json', { user: { name: 'Agent Two', email: 'agent.two@example.com', role: 'agent' } })).user;
    const customer = (await zd('POST', 'users.json', { user: { name: 'Zoë Customer', email: 'zoe@example.org', role: 'end-user' } })).user;
    const noEmail = (await zd('POST', 'users.json', { user: { name: 'نادية بلا بريد', role: 'end-user' } })).user;
    noEmailUser = String(noEmail.id);
    const upload = async (name: string, bytes: Uint8Array, type: string) => (await zd('POST', `uploads.json?filename=${encodeURIComponent(name)}`, undefined, { bytes, type })).upload;
    const logo = await upload('logo.png', PNG, 'image/png');
    const photo = await upload('photo.png', PNG.slice(0, 120), 'image/png');
    const report = await upload('report.pdf', PDF, 'application/pdf');

    const messy = await zd('POST', 'imports/tickets.json', {
      ticket: {
        subject: SUBJECTS[0],
        requester_id: customer.id,
        status: 'hold',
        comments: [
          { author_id: customer.id, html_body: messyHtml('cid:logo.png'), public: true, uploads: [logo.token, report.token] },
          // An image Zendesk itself shows inline: the body points at the uploaded copy.
          { author_id: agent.id, html_body: `<p>Private look <img src="${photo.attachment.content_url}" onerror="steal()"></p>`, public: false, uploads: [photo.token] },
        ],
      },
    });
    const thread = await zd('POST', 'imports/tickets.json', {
      ticket: {
        subject: SUBJECTS[1],
        requester_id: noEmail.id,
        status: 'open',
        comments: Array.from({ length: THREAD }, (_, i) => {
          const msg = threadMessage(i);
          return { author_id: i % 2 === 0 ? noEmail.id : me.id, html_body: msg.html, public: i === 0 ? true : msg.public };
        }),
      },
    });
    const empty = await zd('POST', 'imports/tickets.json', {
      ticket: { subject: SUBJECTS[2], requester_id: noEmail.id, status: 'open', comments: [{ author_id: noEmail.id, html_body: '<p>No subject at all</p>', public: true }] },
    });
    seeded = { messy: String(messy.ticket.id), thread: String(thread.ticket.id), empty: String(empty.ticket.id) };
  });
  afterAll(async () => m?.close());

  it('loads and verifies clean; the report counts each transformation it applied', async () => {
    const { code, result } = await migrate(m);
    expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
    expect(code).toBe(0);
    expect(result.counts.ticket).toMatchObject({ created: 3, failed: 0 });
    expect(result.counts.contact.failed).toBe(0);
    expect(result.run.summary.transformations).toEqual({
      // The messy description, the private note's handler, every fifth message of the thread.
      sanitized: 2 + SANITIZED_IN_THREAD,
      // Freshdesk shows no inline images: the cid: logo and Zendesk's inline photo.
      'inline-as-attachment': 2,
      // Freshdesk has no "hold".
      'status-mapped': 1,
    });

    const t = await targetTickets(m, seeded);
    for (const key of Object.keys(seeded) as (keyof Seeded)[]) {
      expect(t[key].target.subject, key).toBe(t[key].source.subject);
      expect(t[key].target.comments.map((c) => c.public), key).toEqual(t[key].source.comments.map((c) => c.public));
      expect(files(t[key].target), key).toEqual(files(t[key].source));
      expectClean(t[key].target.comments.map((c) => c.body));
    }
    expect([t.messy.target.subject, t.thread.target.subject, t.empty.target.subject]).toEqual(SUBJECTS);
    const description = t.messy.target.comments[0].body;
    for (const kept of ['<div dir="rtl">', 'שלום <b>bold</b> 😀 漢字', '<li>second</li>', '<td colspan="2">cell</td>', '<a href="https://example.com/doc">good link</a>', 'bad link', '[image: logo.png]', '<pre><code>if (a &lt; b) return;</code></pre>']) {
      expect(description).toContain(kept);
    }
    expect(t.messy.target.comments[1].body).toContain('[image: photo.png]');
    expect(t.messy.target.status).toBe('pending');
    expect(t.thread.target.comments).toHaveLength(THREAD);
    // Freshdesk sets its own times: each body starts with the header line naming the original author and time.
    const header = /^<p>Originally written by zendesk user \d+ on [^<]+Z<\/p>/;
    for (const c of t.thread.target.comments) expect(c.body).toMatch(header);
    expect(t.thread.target.comments.map((c) => c.body.replace(header, '').replace(/<[^>]+>/g, ''))).toEqual(
      Array.from({ length: THREAD }, (_, i) => threadMessage(i).html.replace(/<[^>]+>/g, '')),
    );

    // The requester without an email is a contact on the target, and requests both tickets.
    const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
    try {
      // Each record's transformations are named in the run's log.
      const named = readFileSync(rt.logFile, 'utf8')
        .split('\n')
        .filter((line) => line.includes('changed on its way to the target'))
        .map((line) => JSON.parse(line) as { sourceId: string; transformations: string[] });
      expect(named.find((l) => l.sourceId === seeded.messy)?.transformations).toEqual([
        'status-mapped: status hold → pending',
        `sanitized: comment ${t.messy.source.comments[0].sourceId}: removed onclick handler, <script>, href=javascript:, <iframe>`,
        `sanitized: comment ${t.messy.source.comments[1].sourceId}: removed onerror handler`,
        `inline-as-attachment: comment ${t.messy.source.comments[0].sourceId}: 1 inline image(s) carried as attachments`,
        `inline-as-attachment: comment ${t.messy.source.comments[1].sourceId}: 1 inline image(s) carried as attachments`,
      ]);
      const contact = (await rt.ledger.lookupIds('contact', [noEmailUser])).get(noEmailUser);
      expect(contact?.targetId).toBeTruthy();
      expect(((await rt.target.get('contact', contact!.targetId)) as Contact).name).toBe('نادية بلا بريد');
      expect(t.thread.target.requesterId).toBe(contact!.targetId);
      expect(t.empty.target.requesterId).toBe(contact!.targetId);
    } finally {
      await rt.close();
    }
  });
});

describe('verify, after a messy zendesk → freshdesk run', () => {
  it('flags a target copy that carries a script handler again, though its text is unchanged', async () => {
    const m = await migrationEnv('zendesk', 'freshdesk', { tickets: 0, seed: 43, immediateExports: 'The records are made at the source a moment before the migration reads them', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    try {
      const auth = `Basic ${Buffer.from(`${m.source.credentials.email}/token:${m.source.credentials.apiToken}`).toString('base64')}`;
      const zd = async (path: string, body: unknown) =>
        (await (await fetch(`${m.source.url}/api/v2/${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;
      const customer = (await zd('users.json', { user: { name: 'Zoë Customer', email: 'zoe@example.org', role: 'end-user' } })).user;
      const ticket = (await zd('imports/tickets.json', { ticket: { subject: 'Scripted', requester_id: customer.id, status: 'open', comments: [{ author_id: customer.id, html_body: messyHtml('https://example.com/logo.png'), public: true }] } })).ticket;
      const { result } = await migrate(m);
      expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);

      const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
      try {
        const targetId = (await rt.ledger.lookupIds('ticket', [String(ticket.id)])).get(String(ticket.id))!.targetId;
        const onTarget = (await rt.target.get('ticket', targetId)) as Ticket;
        // Someone (or a target's import) puts a handler back: the same text, an image that runs code.
        const description = `${onTarget.comments[0].body}<img src="https://example.com/x.png" onerror="steal()">`;
        const res = await fetch(`${m.target.url}/api/v2/tickets/${targetId}`, {
          method: 'PUT',
          headers: { authorization: `Basic ${Buffer.from(`${m.target.credentials.apiKey}:X`).toString('base64')}`, 'content-type': 'application/json' },
          body: JSON.stringify({ description }),
        });
        expect(res.status).toBe(200);
        const report = await verifyRuntime(rt);
        expect(report.clean).toBe(false);
        expect(report.issues).toEqual([
          expect.objectContaining({ status: 'mismatched', sourceId: String(ticket.id), detail: expect.stringContaining('active content (scripts, handlers) sanitizing removes: comments.0: onerror handler') }),
        ]);
      } finally {
        await rt.close();
      }
    } finally {
      await m.close();
    }
  });
});

describe('messy data, freshdesk → zendesk: every part arrives or the report counts it', () => {
  let m: MigrationEnv;
  let seeded: Seeded;
  let noEmailContact: string;
  beforeAll(async () => {
    m = await migrationEnv('freshdesk', 'zendesk', { tickets: 0, seed: 42 }, {}, { unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    const auth = `Basic ${Buffer.from(`${m.source.credentials.apiKey}:X`).toString('base64')}`;
    const fd = async (method: string, path: string, body?: unknown | FormData) => {
      const form = body instanceof FormData;
      const res = await fetch(`${m.source.url}/api/v2/${path}`, {
        method,
        headers: form ? { authorization: auth } : { authorization: auth, 'content-type': 'application/json' },
        body: form ? body : body ? JSON.stringify(body) : undefined,
      });
      const json = (await res.json()) as any;
      expect(res.status, `${method} ${path}: ${JSON.stringify(json)}`).toBeLessThan(300);
      return json;
    };
    const agents = await fd('GET', 'agents');
    const agentId = agents[0].id;
    const customer = await fd('POST', 'contacts', { name: 'Zoë Customer', email: 'zoe@example.org' });
    const noEmail = await fd('POST', 'contacts', { name: 'نادية بلا بريد', unique_external_id: 'crm-7781' });
    noEmailContact = String(noEmail.id);

    const form = new FormData();
    form.set('subject', SUBJECTS[0]);
    form.set('description', messyHtml('cid:logo.png'));
    form.set('requester_id', String(customer.id));
    form.set('status', '2');
    form.set('priority', '2');
    form.append('attachments[]', new Blob([PNG], { type: 'image/png' }), 'logo.png');
    form.append('attachments[]', new Blob([PDF], { type: 'application/pdf' }), 'report.pdf');
    const messy = await fd('POST', 'tickets', form);
    await fd('POST', `tickets/${messy.id}/notes`, { body: '<p>Private look <a href="javascript:steal()" onclick="steal()">here</a></p>', private: true, user_id: agentId });

    const thread = await fd('POST', 'tickets', { subject: SUBJECTS[1], description: '<p>message 0 — ok</p>', requester_id: noEmail.id, status: 2, priority: 1 });
    for (let i = 1; i < THREAD; i++) {
      const msg = threadMessage(i);
      if (msg.public) await fd('POST', `tickets/${thread.id}/reply`, { body: msg.html, user_id: agentId });
      else await fd('POST', `tickets/${thread.id}/notes`, { body: msg.html, private: true, user_id: agentId });
    }
    const empty = await fd('POST', 'tickets', { subject: SUBJECTS[2], description: '<p>No subject at all</p>', requester_id: noEmail.id, status: 2, priority: 1 });
    seeded = { messy: String(messy.id), thread: String(thread.id), empty: String(empty.id) };
  });
  afterAll(async () => m?.close());

  it('loads and verifies clean; the report counts each transformation it applied', async () => {
    const { code, result } = await migrate(m);
    expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
    expect(code).toBe(0);
    expect(result.counts.ticket).toMatchObject({ created: 3, failed: 0 });
    expect(result.counts.contact.failed).toBe(0);
    expect(result.run.summary.transformations).toEqual({
      // The messy description, the private note, every fifth message of the thread but the first.
      sanitized: 2 + SANITIZED_IN_THREAD - 1,
      // Zendesk shows inline images: the cid: logo points at its uploaded copy.
      'inline-relinked': 1,
    });

    const t = await targetTickets(m, seeded);
    for (const key of Object.keys(seeded) as (keyof Seeded)[]) {
      expect(t[key].target.subject, key).toBe(t[key].source.subject);
      expect(t[key].target.comments.map((c) => c.public), key).toEqual(t[key].source.comments.map((c) => c.public));
      expect(files(t[key].target), key).toEqual(files(t[key].source));
      expectClean(t[key].target.comments.map((c) => c.body));
    }
    expect([t.messy.target.subject, t.thread.target.subject, t.empty.target.subject]).toEqual(SUBJECTS);
    const description = t.messy.target.comments[0].body;
    for (const kept of ['<div dir="rtl">', 'שלום <b>bold</b> 😀 漢字', '<li>second</li>', '<td colspan="2">cell</td>', '<a href="https://example.com/doc">good link</a>', 'bad link', '<pre><code>if (a &lt; b) return;</code></pre>']) {
      expect(description).toContain(kept);
    }
    // The logo is an inline image of the description on Zendesk, shown from its uploaded copy.
    const logo = t.messy.target.comments[0].attachments.find((a) => a.fileName === 'logo.png')!;
    expect(logo.inline).toBe(true);
    expect(description).toContain(`src="${logo.url}"`);
    expect(description).not.toContain('cid:');
    expect(t.thread.target.comments).toHaveLength(THREAD);

    const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
    try {
      const contact = (await rt.ledger.lookupIds('contact', [noEmailContact])).get(noEmailContact);
      expect(contact?.targetId).toBeTruthy();
      expect(t.thread.target.requesterId).toBe(contact!.targetId);
      expect(t.empty.target.requesterId).toBe(contact!.targetId);
    } finally {
      await rt.close();
    }
  });
});
