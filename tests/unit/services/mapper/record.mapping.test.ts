import { describe, expect, it } from 'vitest';
import { fakeHelpdesk } from '../../../../connectors/sdk/fake-helpdesk.ts';
import { mapPriority, mapRecord, mapStatus } from '../../../../services/mapper/record.mapping.ts';
import type { MappingRules } from '../../../../services/mapper/rules.ts';
import { ENTITIES } from '../../../../schemas/canonical.ts';

const freshdeskLike: MappingRules = {
  capabilities: { ticketStatuses: ['open', 'pending', 'solved', 'closed'], ticketPriorities: ['low', 'normal', 'high', 'urgent'], ticketTypes: ['question', 'incident', 'problem'], entities: ENTITIES },
  skipAttachments: false,
  statusMap: {},
  priorityMap: {},
  typeMap: {},
};
const h = fakeHelpdesk({ seed: 11, tickets: 40 });

describe('record mapping', () => {
  it('maps statuses the target lacks to the nearest it has, and honours the status map first', () => {
    expect(mapStatus('new', freshdeskLike)).toBe('open');
    expect(mapStatus('hold', freshdeskLike)).toBe('pending');
    expect(mapStatus('solved', freshdeskLike)).toBe('solved');
    expect(mapStatus('hold', { ...freshdeskLike, statusMap: { hold: 'open' } })).toBe('open');
    expect(mapPriority('urgent', { ...freshdeskLike, priorityMap: { urgent: 'high' } })).toBe('high');
    expect(mapPriority(null, freshdeskLike)).toBeNull();
  });

  it('a custom source status maps by its own name first, then by the canonical status it reads as', () => {
    const rules = { ...freshdeskLike, statusMap: { 'waiting on vendor': 'pending' as const, open: 'solved' as const } };
    expect(mapStatus('open', rules, 'waiting on vendor')).toBe('pending');
    expect(mapStatus('open', rules, 'in triage')).toBe('solved');
    expect(mapStatus('closed', freshdeskLike, 'cancelled by customer')).toBe('closed');
    // A key shaped like an object's own property is not a mapping.
    expect(mapStatus('open', freshdeskLike, 'constructor')).toBe('open');
    const ticket = { ...h.ticket(0), status: 'open' as const, sourceStatus: 'waiting on vendor' };
    const result = mapRecord('ticket', ticket, rules);
    expect(result.kind === 'planned' && result.record.status).toBe('pending');
    expect(result.kind === 'planned' && result.notes).toContain('status-mapped: status open ("waiting on vendor") → pending');
  });

  it('a custom status closed because the source counts it done is counted as such, unless the status map names it', () => {
    const ticket = { ...h.ticket(0), status: 'closed' as const, sourceStatus: 'cancelled by customer', closedByInactivity: true };
    const result = mapRecord('ticket', ticket, freshdeskLike);
    expect(result.kind === 'planned' && result.record.status).toBe('closed');
    expect(result.kind === 'planned' && result.notes).toContain('status-by-inactivity: status "cancelled by customer" is inactive (done) at the source → closed');
    const mapped = mapRecord('ticket', ticket, { ...freshdeskLike, statusMap: { 'cancelled by customer': 'solved' } });
    expect(mapped.kind === 'planned' && mapped.notes.filter((n) => n.startsWith('status'))).toEqual(['status-mapped: status closed ("cancelled by customer") → solved']);
  });

  it('a target without inline images gets "[image: name]" and an ordinary attachment, never a broken reference', () => {
    const ticket = [...h.tickets()].find((t) => t.comments.some((c) => c.attachments.some((a) => a.inline)))!;
    const comment = ticket.comments.find((c) => c.attachments.some((a) => a.inline))!;
    const image = comment.attachments.find((a) => a.inline)!;
    expect(comment.body).toContain(`inline:${image.sourceId}`);
    const result = mapRecord('ticket', ticket, { ...freshdeskLike, capabilities: { ...freshdeskLike.capabilities, inlineImages: false } });
    if (result.kind !== 'planned') throw new Error('filtered');
    const mapped = result.record.comments.find((c) => c.sourceId === comment.sourceId)!;
    expect(mapped.body).not.toContain(`inline:${image.sourceId}`);
    expect(mapped.body).toContain(`[image: ${image.fileName}]`);
    expect(mapped.attachments.find((a) => a.sourceId === image.sourceId)).toMatchObject({ inline: false });
    expect(result.notes).toContain(`inline-as-attachment: comment ${comment.sourceId}: 1 inline image(s) carried as attachments`);
    // A target that shows inline images keeps them.
    const kept = mapRecord('ticket', ticket, freshdeskLike);
    expect(kept.kind === 'planned' && kept.record.comments.find((c) => c.sourceId === comment.sourceId)!.body).toBe(comment.body);
  });

  it('attachments over the target\'s per-comment limit are split across continuation comments, none left behind', () => {
    const MB = 1024 * 1024;
    const base = h.ticket(1);
    const files = [10 * MB, ...Array.from({ length: 15 }, () => Math.round(1.1 * MB))].map((size, i) => ({
      sourceId: `f${i}`, fileName: `file-${i}.bin`, contentType: 'application/octet-stream', size, url: '', inline: false,
    }));
    const ticket = { ...base, comments: [{ ...base.comments[0], attachments: files }, ...base.comments.slice(1)] };
    const limited = { ...freshdeskLike, capabilities: { ...freshdeskLike.capabilities, attachmentBytesPerComment: 20 * MB } };
    const result = mapRecord('ticket', ticket, limited);
    if (result.kind !== 'planned') throw new Error('filtered');
    const [first, second, ...rest] = result.record.comments;
    expect(rest.map((c) => c.sourceId)).toEqual(base.comments.slice(1).map((c) => c.sourceId));
    expect(first.sourceId).toBe(base.comments[0].sourceId);
    expect(first.body).toBe(base.comments[0].body);
    expect(second.sourceId).toBe(`${base.comments[0].sourceId}#attachments-2`);
    expect({ authorId: second.authorId, public: second.public, createdAt: second.createdAt }).toEqual({ authorId: first.authorId, public: first.public, createdAt: first.createdAt });
    for (const c of [first, second]) expect(c.attachments.reduce((n, a) => n + a.size, 0)).toBeLessThanOrEqual(20 * MB);
    expect([...first.attachments, ...second.attachments].map((a) => a.sourceId)).toEqual(files.map((a) => a.sourceId));
    expect(result.notes.join()).toMatch(/attachments split across 2 comments/);
    // Without a limit nothing moves.
    const free = mapRecord('ticket', ticket, freshdeskLike);
    expect(free.kind === 'planned' && free.record.comments).toEqual(ticket.comments);
  });

  // Freshdesk API v2, Create a Note: the total of all of a ticket's attachments (not just this note) is at most 20 MB.
  it("names, per comment, the attachments a per-ticket limit leaves out: linked with an attachment location, not carried without", () => {
    const MB = 1024 * 1024;
    const base = h.ticket(2);
    const file = (id: string, size: number) => ({ sourceId: id, fileName: `${id}.pdf`, contentType: 'application/pdf', size, url: '', inline: false });
    const ticket = {
      ...base,
      comments: [
        { ...base.comments[0], sourceId: 'c0', attachments: [file('a', 9 * MB), file('b', 8 * MB), file('c', 6 * MB)] },
        { ...base.comments[0], sourceId: 'c1', attachments: [file('d', 2 * MB)] },
        { ...base.comments[0], sourceId: 'c2', attachments: [file('e', 4 * MB)] },
      ],
    };
    const perTicket = { ...freshdeskLike, capabilities: { ...freshdeskLike.capabilities, attachmentBytesPerTicket: 20 * MB } };
    const named = mapRecord('ticket', ticket, perTicket);
    if (named.kind !== 'planned') throw new Error('filtered');
    // c (6 MB) does not fit after 17 MB, d (2 MB) still does, e (4 MB) no longer: the writer's order and rule.
    expect(named.notes.filter((n) => n.startsWith('attachments-'))).toEqual([
      `attachments-not-carried: comment c0: c.pdf (${6 * MB} bytes) over the target's 20.0 MB per ticket, named in the comment`,
      `attachments-not-carried: comment c2: e.pdf (${4 * MB} bytes) over the target's 20.0 MB per ticket, named in the comment`,
    ]);
    // Every attachment stays planned: the writer decides where each goes, verify expects all of them.
    expect(named.record.comments).toEqual(ticket.comments);
    const linked = mapRecord('ticket', ticket, { ...perTicket, attachmentLinks: { directory: 'files', baseUrl: 'https://files.example.com' } });
    const kinds = (notes: string[]) => notes.map((n) => n.slice(0, n.indexOf(':'))).filter((k) => k.startsWith('attachments-'));
    expect(linked.kind === 'planned' && kinds(linked.notes)).toEqual(['attachments-linked', 'attachments-linked']);
    const skipped = mapRecord('ticket', ticket, { ...perTicket, skipAttachments: true });
    expect(skipped.kind === 'planned' && kinds(skipped.notes)).toEqual(['attachments-skipped']);
  });

  it('plans every ticket with only target-supported values and notes each change', () => {
    for (const ticket of h.tickets()) {
      const result = mapRecord('ticket', ticket, freshdeskLike);
      expect(result.kind).toBe('planned');
      if (result.kind !== 'planned') continue;
      expect(freshdeskLike.capabilities.ticketStatuses).toContain(result.record.status);
      if (result.record.type !== null) expect(freshdeskLike.capabilities.ticketTypes).toContain(result.record.type);
      if (ticket.status !== result.record.status) expect(result.notes.join()).toContain(`status ${ticket.status}`);
      expect(result.record.comments).toEqual(ticket.comments);
    }
  });

  it('drops attachments when told to, leaving the comments', () => {
    const withAttachments = [...h.tickets()].find((t) => t.comments.some((c) => c.attachments.length > 0))!;
    const result = mapRecord('ticket', withAttachments, { ...freshdeskLike, skipAttachments: true });
    if (result.kind !== 'planned') throw new Error('expected planned');
    expect(result.record.comments).toHaveLength(withAttachments.comments.length);
    expect(result.record.comments.every((c) => c.attachments.length === 0)).toBe(true);
    expect(result.notes).toContain('attachments-skipped: attachments skipped by option');
  });

  it('filters deactivated and deleted agents with the rule that did it', () => {
    const deleted = h.agents.find((a) => a.deleted)!;
    const inactive = h.agents.find((a) => !a.active && !a.deleted)!;
    expect(mapRecord('agent', deleted, freshdeskLike)).toEqual({ kind: 'filtered', rule: 'deleted-agent→default-agent' });
    expect(mapRecord('agent', inactive, freshdeskLike)).toEqual({ kind: 'filtered', rule: 'inactive-agent→default-agent' });
    expect(mapRecord('agent', h.agents[0], freshdeskLike).kind).toBe('planned');
  });

  it('filters entities the target cannot receive', () => {
    const noKb = { ...freshdeskLike, capabilities: { ...freshdeskLike.capabilities, entities: ENTITIES.filter((e) => e !== 'kbArticle') } };
    expect(mapRecord('kbArticle', h.kbArticles[0], noKb)).toEqual({ kind: 'filtered', rule: 'target-has-no-kbArticle' });
  });

  it('is pure: the input record is not modified', () => {
    const ticket = h.ticket(3);
    const before = JSON.stringify(ticket);
    mapRecord('ticket', ticket, { ...freshdeskLike, skipAttachments: true });
    expect(JSON.stringify(ticket)).toBe(before);
  });

  describe('bodies are sanitized on their way to every target', () => {
    const MESSY =
      '<div dir="rtl"><p onclick="steal()">שלום <b>bold</b> 😀 漢字</p><script>alert(document.cookie)</script>' +
      '<ul><li>one</li><li>two</li></ul><table><tr><td colspan="2">cell</td></tr></table>' +
      '<a href="javascript:alert(1)">bad link</a> <a href="https://example.com/doc">good link</a>' +
      '<img src="https://example.com/a.png" onerror="steal()"><pre><code>if (a &lt; b) return;</code></pre>' +
      '<iframe src="https://evil.example"></iframe></div>';
    const messy = (body: string) => {
      const t = h.ticket(4);
      return { ...t, status: 'open' as const, comments: [{ ...t.comments[0], body, attachments: [] }, ...t.comments.slice(1)] };
    };

    it('removes scripts, handlers, script links and frames, keeps text and layout, and names what it removed', () => {
      const ticket = messy(MESSY);
      const result = mapRecord('ticket', ticket, freshdeskLike);
      if (result.kind !== 'planned') throw new Error('filtered');
      const body = result.record.comments[0].body;
      for (const gone of ['<script', 'alert(', 'onclick', 'onerror', 'javascript:', '<iframe', 'steal']) expect(body).not.toContain(gone);
      for (const kept of ['<div dir="rtl">', '<p>שלום <b>bold</b> 😀 漢字</p>', '<ul><li>one</li><li>two</li></ul>', '<td colspan="2">cell</td>', '<a href="https://example.com/doc">good link</a>', 'src="https://example.com/a.png"', '<pre><code>if (a &lt; b) return;</code></pre>', 'bad link']) {
        expect(body).toContain(kept);
      }
      expect(result.notes).toContain(
        `sanitized: comment ${ticket.comments[0].sourceId}: removed onclick handler, <script>, href=javascript:, onerror handler, <iframe>`,
      );
      // A clean body is not touched, and not reported.
      const clean = mapRecord('ticket', messy('<p>just <a href="https://example.com">text</a></p>'), freshdeskLike);
      expect(clean.kind === 'planned' && clean.record.comments[0].body).toBe('<p>just <a href="https://example.com">text</a></p>');
      expect(clean.kind === 'planned' && clean.notes.some((n) => n.startsWith('sanitized:'))).toBe(false);
      // Presentational styles stay; a style that would fetch or run something goes with the handler.
      const styled = mapRecord('ticket', messy('<p class="note" style="color: red; font-weight: bold">a</p><p style="background: url(javascript:x())" onclick="y()">b</p>'), freshdeskLike);
      expect(styled.kind === 'planned' && styled.record.comments[0].body).toBe('<p class="note" style="color:red;font-weight:bold">a</p><p>b</p>');
    });

    it('sanitizes KB articles and each of their translations', () => {
      const article = { ...h.kbArticles[0], body: '<p>How to</p><script>x()</script>', translations: [{ ...h.kbArticles[0].translations[0] ?? { locale: 'de', title: 'T', draft: false, updatedAt: h.kbArticles[0].updatedAt }, body: '<p onmouseover="x()">Wie</p>' }] };
      const result = mapRecord('kbArticle', article, freshdeskLike);
      if (result.kind !== 'planned') throw new Error('filtered');
      expect(result.record.body).toBe('<p>How to</p>');
      expect(result.record.translations[0].body).toBe('<p>Wie</p>');
      expect(result.notes).toEqual([
        `sanitized: article ${article.sourceId}: removed <script>`,
        `sanitized: article ${article.sourceId} (${article.translations[0].locale}): removed onmouseover handler`,
      ]);
    });

    it('a cid: image naming an attachment becomes that inline attachment; one naming none is removed and named', () => {
      const t = h.ticket(5);
      const logo = { sourceId: 'att-logo', fileName: 'logo 1.png', contentType: 'image/png', size: 10, url: 'https://source.example/logo', inline: false };
      const body = '<p>See <img src="cid:logo%201.png" alt="logo"> and <img src="cid:gone.png"></p>';
      const ticket = { ...t, status: 'open' as const, comments: [{ ...t.comments[0], body, attachments: [logo] }] };
      const zendeskLike = mapRecord('ticket', ticket, freshdeskLike);
      if (zendeskLike.kind !== 'planned') throw new Error('filtered');
      expect(zendeskLike.record.comments[0].body).toBe('<p>See <img src="inline:att-logo" alt="logo" /> and </p>');
      expect(zendeskLike.record.comments[0].attachments[0].inline).toBe(true);
      expect(zendeskLike.notes).toContain(`sanitized: comment ${t.comments[0].sourceId}: removed src=cid:`);
      expect(zendeskLike.notes).toContain(`inline-relinked: comment ${t.comments[0].sourceId}: 1 inline image(s) re-linked to their uploaded copies`);
      const noInline = mapRecord('ticket', ticket, { ...freshdeskLike, capabilities: { ...freshdeskLike.capabilities, inlineImages: false } });
      if (noInline.kind !== 'planned') throw new Error('filtered');
      expect(noInline.record.comments[0].body).toBe('<p>See [image: logo 1.png] and </p>');
      expect(noInline.record.comments[0].attachments[0]).toMatchObject({ sourceId: 'att-logo', inline: false });
    });
  });
});
