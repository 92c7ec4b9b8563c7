import { describe, expect, it } from 'vitest';
import { fakeHelpdesk } from '../../../../connectors/sdk/fake-helpdesk.ts';
import { fieldChecks } from '../../../../services/demo/demo.ts';
import type { Ticket } from '../../../../schemas/canonical.ts';

const ticket = [...fakeHelpdesk({ seed: 9, tickets: 10, maxComments: 3 }).tickets()].find((t) => t.comments.length > 1)!;
const limitations = [{ entity: 'ticket' as const, field: 'comments.createdAt', description: 'stamped by the target' }];

describe('demo field checks', () => {
  it('passes identical records field by field, naming the limitation under its field', () => {
    const checks = fieldChecks('ticket', ticket, ticket, limitations);
    expect(checks.every((c) => c.status === 'ok')).toBe(true);
    expect(checks.find((c) => c.field === 'comments')!.limitations).toEqual(['comments.createdAt: stamped by the target']);
    expect(checks.find((c) => c.field === 'subject')!.limitations).toEqual([]);
  });

  it('calls a difference the target cannot preserve "lost", and any other "differs"', () => {
    const restamped: Ticket = { ...ticket, comments: ticket.comments.map((c) => ({ ...c, createdAt: '2030-01-01T00:00:00.000Z' })) };
    expect(fieldChecks('ticket', ticket, restamped, limitations).find((c) => c.field === 'comments')!.status).toBe('lost');
    const rewritten: Ticket = { ...restamped, subject: 'changed', comments: restamped.comments.map((c, i) => (i === 1 ? { ...c, public: !c.public } : c)) };
    const checks = fieldChecks('ticket', ticket, rewritten, limitations);
    expect(checks.find((c) => c.field === 'subject')).toMatchObject({ status: 'differs', expected: ticket.subject, actual: 'changed' });
    const comments = checks.find((c) => c.field === 'comments')!;
    expect(comments.status).toBe('differs');
    expect(comments.differences.map((d) => d.path)).toContain('comments.1.public');
    const dropped: Ticket = { ...ticket, comments: ticket.comments.slice(1) };
    expect(fieldChecks('ticket', ticket, dropped, limitations).find((c) => c.field === 'comments')!.status).toBe('differs');
  });

  it('an indexed limitation covers that comment only: the description\'s author is "lost", a later author "differs"', () => {
    const indexed = [{ entity: 'ticket' as const, field: 'comments.0.authorId', description: 'the description reads back as the requester\'s' }];
    const firstByRequester: Ticket = { ...ticket, comments: ticket.comments.map((c, i) => (i === 0 ? { ...c, authorId: 'requester' } : c)) };
    expect(fieldChecks('ticket', ticket, firstByRequester, indexed).find((c) => c.field === 'comments')!.status).toBe('lost');
    const secondByRequester: Ticket = { ...ticket, comments: ticket.comments.map((c, i) => (i === 1 ? { ...c, authorId: 'requester' } : c)) };
    expect(fieldChecks('ticket', ticket, secondByRequester, indexed).find((c) => c.field === 'comments')!.status).toBe('differs');
  });
});
