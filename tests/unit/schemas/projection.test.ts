import { describe, expect, it } from 'vitest';
import { fakeHelpdesk } from '../../../connectors/sdk/fake-helpdesk.ts';
import { checksum, diffProjections, htmlText, pathUnder, project, stableStringify } from '../../../schemas/projection.ts';

const ticket = fakeHelpdesk({ seed: 5, tickets: 3 }).ticket(1);

describe('projection', () => {
  it('ignores markup, ID fields and set order but not content', () => {
    const same = {
      ...ticket,
      sourceId: 'other',
      updatedAt: '2030-01-01T00:00:00Z',
      tags: [...ticket.tags].reverse(),
      comments: ticket.comments.map((c) => ({ ...c, sourceId: `x${c.sourceId}`, body: `<div>${c.body}</div>` })),
    };
    expect(checksum(project('ticket', same))).toBe(checksum(project('ticket', ticket)));
    const changed = { ...ticket, comments: ticket.comments.map((c, i) => (i === 0 ? { ...c, body: `${c.body} edited` } : c)) };
    expect(checksum(project('ticket', changed))).not.toBe(checksum(project('ticket', ticket)));
    const otherStatus = ticket.status === 'closed' ? ('open' as const) : ('closed' as const);
    expect(checksum(project('ticket', { ...ticket, status: otherStatus }))).not.toBe(checksum(project('ticket', ticket)));
    const flipped = { ...ticket, comments: ticket.comments.map((c) => ({ ...c, public: !c.public })) };
    expect(checksum(project('ticket', flipped))).not.toBe(checksum(project('ticket', ticket)));
  });

  it('drops fields the target cannot preserve, through arrays', () => {
    const moved = { ...ticket, createdAt: '2031-01-01T00:00:00.000Z', comments: ticket.comments.map((c) => ({ ...c, createdAt: '2031-01-01T00:00:00.000Z' })) };
    expect(checksum(project('ticket', moved))).not.toBe(checksum(project('ticket', ticket)));
    const limits = ['createdAt', 'comments.createdAt'];
    expect(checksum(project('ticket', moved, limits))).toBe(checksum(project('ticket', ticket, limits)));
  });

  it('an indexed limitation (comments.0.authorId) drops that comment\'s field only, so every later author is still compared', () => {
    expect(ticket.comments.length).toBeGreaterThan(1);
    const limits = ['comments.0.authorId'];
    const firstByOther = { ...ticket, comments: ticket.comments.map((c, i) => (i === 0 ? { ...c, authorId: 'someone-else' } : c)) };
    expect(checksum(project('ticket', firstByOther))).not.toBe(checksum(project('ticket', ticket)));
    expect(checksum(project('ticket', firstByOther, limits))).toBe(checksum(project('ticket', ticket, limits)));
    const secondByOther = { ...ticket, comments: ticket.comments.map((c, i) => (i === 1 ? { ...c, authorId: 'someone-else' } : c)) };
    expect(checksum(project('ticket', secondByOther, limits))).not.toBe(checksum(project('ticket', ticket, limits)));
    const projected = project('ticket', ticket, limits) as { comments: Record<string, unknown>[] };
    expect(projected.comments[0]).not.toHaveProperty('authorId');
    expect(projected.comments[1]).toHaveProperty('authorId', ticket.comments[1].authorId);
    expect(projected.comments[0]).toHaveProperty('body');
    // No comments at all: nothing to drop, nothing breaks.
    expect(project('ticket', { ...ticket, comments: [] }, limits)).toEqual(project('ticket', { ...ticket, comments: [] }));
  });

  it('names which differences a limitation covers, by index or for every element', () => {
    expect(pathUnder('comments.0.authorId', 'comments.0.authorId')).toBe(true);
    expect(pathUnder('comments.1.authorId', 'comments.0.authorId')).toBe(false);
    expect(pathUnder('comments.1.authorId', 'comments.authorId')).toBe(true);
    expect(pathUnder('comments.2.attachments.0.inline', 'comments.attachments.inline')).toBe(true);
    expect(pathUnder('comments.2.body', 'comments.authorId')).toBe(false);
    expect(pathUnder('createdAt', 'createdAt')).toBe(true);
    expect(pathUnder('comments', 'comments.createdAt')).toBe(false);
  });

  it('treats empty custom field values as absent', () => {
    const a = { ...ticket, customFields: { a: 'x', b: null, c: [] as string[], d: '' } };
    const b = { ...ticket, customFields: { a: 'x' } };
    expect(checksum(project('ticket', a))).toBe(checksum(project('ticket', b)));
  });

  it('a sanitized body is no mismatch; a target body still carrying a script or handler is one, named', () => {
    const planned = { ...ticket, comments: ticket.comments.map((c, i) => (i === 0 ? { ...c, body: '<p>Hello <b>there</b></p>' } : c)) };
    const rendered = { ...ticket, comments: ticket.comments.map((c, i) => (i === 0 ? { ...c, body: '<div class="x"><p>Hello <b>there</b></p></div>' } : c)) };
    expect(checksum(project('ticket', rendered))).toBe(checksum(project('ticket', planned)));
    const scripted = { ...ticket, comments: ticket.comments.map((c, i) => (i === 0 ? { ...c, body: '<p onclick="x()">Hello <b>there</b></p><script></script>' } : c)) };
    expect(checksum(project('ticket', scripted))).not.toBe(checksum(project('ticket', planned)));
    expect(diffProjections(project('ticket', planned), project('ticket', scripted))).toEqual([
      { path: 'comments.0.active', expected: undefined, actual: ['onclick handler', '<script>'] },
    ]);
    const article = fakeHelpdesk({ seed: 5, tickets: 0, articles: 1 }).kbArticles[0];
    const scriptedArticle = { ...article, body: `${article.body}<a href="javascript:x()">more</a>` };
    expect(checksum(project('kbArticle', scriptedArticle))).not.toBe(checksum(project('kbArticle', { ...article, body: `${article.body}<a>more</a>` })));
  });

  it('turns HTML into comparable text', () => {
    expect(htmlText('<p>Grüße&nbsp;&amp; <b>thanks</b></p><p>bye</p>')).toBe('Grüße & thanks bye');
    expect(htmlText(null)).toBe('');
  });

  it('serialises with sorted keys and names each differing path', () => {
    expect(stableStringify({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
    expect(diffProjections({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 3] } })).toEqual([{ path: 'b.c.1', expected: 2, actual: 3 }]);
    expect(diffProjections({ list: [1] }, { list: [1, 2] })).toEqual([{ path: 'list.length', expected: 1, actual: 2 }]);
    // A list of records names the ones only one side has, not just the count.
    expect(diffProjections({ files: [{ fileName: 'a' }, { fileName: 'b' }] }, { files: [{ fileName: 'a' }] })).toEqual([
      { path: 'files.length', expected: 2, actual: 1 },
      { path: 'files.missing', expected: { fileName: 'b' }, actual: undefined },
    ]);
  });
});
