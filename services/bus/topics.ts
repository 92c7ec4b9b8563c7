import type { EntityName, Envelope } from '../../schemas/canonical.ts';

/** The stage topics of a migration's pipeline, the header naming a message's run, and how much a record weighs in throughput. */

/** Header naming the run a message belongs to: the ledger rows it causes carry that run. */
export const RUN_HEADER = 'hdm-run';
/** Header with the instant (ms) the pipeline first had the record in hand: lag is never counted from before the source could show it. */
export const SEEN_HEADER = 'hdm-seen-at';

export const recordsTopic = (entity: EntityName) => `records-${entity}`;
export const plannedTopic = (entity: EntityName) => `planned-${entity}`;

/** A ticket's comments and their attachments; zero for any other record. */
export function conversationSize(envelope: Envelope): { comments: number; attachments: number } {
  if (envelope.entity !== 'ticket' || !envelope.record) return { comments: 0, attachments: 0 };
  const comments = (envelope.record as { comments: { attachments: unknown[] }[] }).comments;
  return { comments: comments.length, attachments: comments.reduce((n, c) => n + c.attachments.length, 0) };
}

/** Canonical records a record counts for in throughput: a ticket counts itself and each comment. */
export function canonicalWeight(envelope: Envelope): number {
  return envelope.entity === 'ticket' && envelope.record ? 1 + (envelope.record as { comments: unknown[] }).comments.length : 1;
}
