import { LOAD_ORDER, type EntityName } from '../../schemas/canonical.ts';
import type { EntityCounters, EntityPhase } from './live-progress.ts';

export interface EntityProgress {
  entity: EntityName;
  /** `waiting`: the run has not reached it yet. */
  state: EntityPhase['state'];
  /** Records with an outcome in this run: loaded, filtered or failed. */
  done: number;
  /** Records at the source, when known (the platform's count at the run's start, else the ledger's). */
  total: number | null;
  percent: number | null;
  /** Seconds since the run reached the entity (to when it finished, once done). */
  elapsedSeconds: number;
  /** Records per second over the entity's elapsed time. */
  perSecond: number;
  /** Seconds left for this entity: from its own pace while it runs, from the budget model while it waits. */
  etaSeconds: number | null;
  etaFrom: 'pace' | 'budget' | null;
}

export interface ProgressView {
  running: boolean;
  kind: string | null;
  startedAt: string | null;
  elapsedSeconds: number;
  /** `entities` while records move, then the closing phase (`verify`) when the run has one, `done` once ended. */
  phase: string;
  entities: EntityProgress[];
  /** Seconds left for the whole run (the closing verification not included), or null when not known. */
  etaSeconds: number | null;
  /**
   * Express order: the working set (open, pending and recent tickets with what they reference) — `running`
   * while it moves, `complete` once it is all on the target and agents can start there. Null in entity order.
   */
  workingSet: { state: 'running' | 'complete'; startedAt: string; completedAt: string | null } | null;
  /** Ratio of the run's actual time to the budget model's over the entities it finished: how the budget is scaled for waiting ones. */
  paceVsBudget: number | null;
  /**
   * The comments and attachments per ticket the budget model counts for tickets (their writes cost more than
   * the tickets themselves): from the tickets this run has read once it has read some, before that from the
   * sample drawn when the run started; null when neither is known (the model then counts tickets alone).
   */
  ticketConversation: { commentsPerTicket: number; attachmentsPerTicket: number; from: 'run' | 'sample'; tickets: number } | null;
}

/** Tickets read and the comments and attachments they held. */
export interface ConversationCount {
  tickets: number;
  comments: number;
  attachments: number;
}

export interface ProgressInput {
  running: boolean;
  kind: string | null;
  runStartedAt: number | null;
  finishedAt: number | null;
  /** The run's entities in load order. */
  entities: readonly EntityName[];
  counters: Map<string, EntityCounters>;
  phases: Map<string, EntityPhase>;
  closingPhase: { name: string; startedAt: number } | null;
  totals: Map<string, number>;
  /** Express order's working set, as LiveProgress tracks it; absent or null in entity order. */
  workingSet?: { state: 'running' | 'complete'; startedAt: number; completedAt: number | null } | null;
  /** Tickets this run has read, with their comments and attachments. */
  conversation?: ConversationCount | null;
  /** Tickets drawn from the source when the run started, with their comments and attachments. */
  conversationSample?: ConversationCount | null;
  /** Seconds the budget model projects for an entity of that many records (tickets: with that many comments and attachments), when it can. */
  budgetSeconds?(entity: EntityName, records: number, conversation: { comments: number; attachments: number }): number | null;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Where a run is: per entity done / total, pace and ETA, the entities not reached yet, and the closing phase. */
export function progressView(input: ProgressInput, now = Date.now()): ProgressView {
  const ordered = LOAD_ORDER.filter((e) => input.entities.includes(e));
  const end = input.running ? now : (input.finishedAt ?? now);
  const measured = input.conversation?.tickets ? { ...input.conversation, from: 'run' as const } : input.conversationSample?.tickets ? { ...input.conversationSample, from: 'sample' as const } : null;
  const ticketConversation = measured
    ? { commentsPerTicket: round1(measured.comments / measured.tickets), attachmentsPerTicket: round1(measured.attachments / measured.tickets), from: measured.from, tickets: measured.tickets }
    : null;
  const budgetOf = (entity: EntityName, records: number) =>
    input.budgetSeconds?.(
      entity,
      records,
      entity === 'ticket' && measured
        ? { comments: Math.round((records * measured.comments) / measured.tickets), attachments: Math.round((records * measured.attachments) / measured.tickets) }
        : { comments: 0, attachments: 0 },
    ) ?? null;
  let budgetSpent = 0;
  let actualSpent = 0;
  const rows: EntityProgress[] = ordered.map((entity) => {
    const phase = input.phases.get(entity) ?? { state: 'waiting' as const, startedAt: null, doneAt: null };
    const c = input.counters.get(entity);
    const done = c ? c.loaded + c.failed + c.filtered : 0;
    const counted = input.totals.get(entity);
    const total = counted === undefined ? null : Math.max(counted, phase.state === 'done' ? done : 0);
    const elapsedMs = phase.startedAt === null ? 0 : (phase.doneAt ?? end) - phase.startedAt;
    const perSecond = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
    if (phase.state === 'done' && total !== null) {
      const budget = budgetOf(entity, total);
      if (budget && budget > 0) {
        budgetSpent += budget;
        actualSpent += elapsedMs / 1000;
      }
    }
    return {
      entity,
      state: phase.state,
      done,
      total,
      percent: total === null ? null : total === 0 ? 100 : Math.min(100, round1((done / total) * 100)),
      elapsedSeconds: Math.round(elapsedMs / 1000),
      perSecond: round1(perSecond),
      etaSeconds: null,
      etaFrom: null,
    };
  });
  const paceVsBudget = budgetSpent > 0 ? round1(actualSpent / budgetSpent) : null;
  let eta: number | null = input.running ? 0 : null;
  for (const row of rows) {
    if (row.state === 'done' || row.state === 'skipped') {
      row.etaSeconds = 0;
      continue;
    }
    if (row.total === null) {
      eta = null;
      continue;
    }
    const left = Math.max(0, row.total - row.done);
    if (row.state === 'running' && row.perSecond > 0) {
      row.etaSeconds = Math.round(left / row.perSecond);
      row.etaFrom = 'pace';
    } else {
      const budget = budgetOf(row.entity, left);
      if (budget !== null) {
        row.etaSeconds = Math.round(budget * (paceVsBudget ?? 1));
        row.etaFrom = 'budget';
      }
    }
    if (eta !== null) eta = row.etaSeconds === null ? null : eta + row.etaSeconds;
  }
  const entitiesDone = rows.every((r) => r.state === 'done' || r.state === 'skipped');
  return {
    running: input.running,
    kind: input.kind,
    startedAt: input.runStartedAt === null ? null : new Date(input.runStartedAt).toISOString(),
    elapsedSeconds: input.runStartedAt === null ? 0 : Math.round((end - input.runStartedAt) / 1000),
    phase: !input.running ? (input.kind ? 'done' : 'idle') : input.closingPhase ? input.closingPhase.name : entitiesDone && rows.length > 0 && input.phases.size > 0 ? 'finishing' : 'entities',
    entities: rows,
    etaSeconds: input.running && input.closingPhase === null ? eta : null,
    workingSet: input.workingSet
      ? {
          state: input.workingSet.state,
          startedAt: new Date(input.workingSet.startedAt).toISOString(),
          completedAt: input.workingSet.completedAt === null ? null : new Date(input.workingSet.completedAt).toISOString(),
        }
      : null,
    paceVsBudget,
    ticketConversation,
  };
}
