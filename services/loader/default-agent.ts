import type { Connector } from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import { readAll } from '../../connectors/sdk/read-all.ts';
import type { Agent } from '../../schemas/canonical.ts';
import type { IdMapCache } from './id-map-cache.ts';

export interface DefaultAgent {
  targetId: string | null;
  /** Looks the agent up on the target; `strict` fails when a named agent is not there. */
  resolve(strict: boolean): Promise<void>;
  /**
   * The target ID, looked up again while it is still unknown: another loader process may have
   * migrated the agent since (cluster mode), and a reassignment must not fall to nobody meanwhile.
   */
  current(): Promise<string | null>;
}

/**
 * The agent who receives what deactivated, deleted or unmatched agents did: the one the user named,
 * else the source's first active admin (or agent) once migrated.
 */
export async function pickDefaultAgent(
  deps: { source: Connector; target: Connector; defaultAgentEmail: string | null },
  ids: IdMapCache,
  options: {
    /**
     * Read the source's agents only when a reference first needs the default agent, not up front: a delta
     * pass rarely needs it, and on Zendesk the agents come from the user export, whose 10 requests a minute
     * the pass's streams need. Default false.
     */
    lazy?: boolean;
    /** The source agent an earlier run chose (null: none), so this one need not read the agents again. Default: read them. */
    chosen?: string | null;
    /** Told of the source agent chosen from the agents read, for the next run. */
    onChosen?(sourceId: string | null): void | Promise<void>;
  } = {},
): Promise<DefaultAgent> {
  let choice: Promise<{ sourceId: string } | null> | null = options.chosen === undefined ? null : Promise.resolve(options.chosen === null ? null : { sourceId: options.chosen });
  const choose = (): Promise<{ sourceId: string } | null> =>
    (choice ??= readAll(deps.source, 'agent').then(
      async (records) => {
        const active = records.flatMap((e) => (e.op === 'upsert' ? [e.record as Agent] : [])).filter((a) => a.active && !a.deleted);
        const agent = active.find((a) => a.role === 'admin') ?? active[0] ?? null;
        await options.onChosen?.(agent?.sourceId ?? null);
        return agent;
      },
      (err: unknown) => {
        choice = null;
        throw err;
      },
    ));
  const holder: DefaultAgent = {
    targetId: null,
    async resolve(strict: boolean) {
      if (deps.defaultAgentEmail) {
        const probe: Agent = {
          sourceId: '',
          name: deps.defaultAgentEmail,
          email: deps.defaultAgentEmail,
          role: 'agent',
          active: true,
          deleted: false,
          groupIds: [],
          timeZone: null,
          createdAt: '',
          updatedAt: '',
        };
        const found = await deps.target.find('agent', probe, '');
        if (!found) {
          if (!strict) return;
          throw new HdmError('CONFIG_INVALID', `options.defaultAgentEmail: no agent ${deps.defaultAgentEmail} on the target`, {
            context: { field: 'options.defaultAgentEmail' },
          });
        }
        holder.targetId = found.targetId;
      } else {
        const chosen = await choose();
        if (chosen) holder.targetId = (await ids.targetIds('agent', [chosen.sourceId], { recheckMisses: true })).get(chosen.sourceId) ?? null;
      }
    },
    async current() {
      if (holder.targetId === null) await holder.resolve(false);
      return holder.targetId;
    },
  };
  if (!options.lazy) await holder.resolve(false);
  return holder;
}
