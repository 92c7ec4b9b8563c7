import type { TargetCapabilities } from '../../connectors/sdk/contract.ts';
import type { MigrationConfig } from '../../schemas/config.ts';
import type { OriginalsRules } from './originals.mapping.ts';
import type { FiltersSection } from '../../schemas/mapping.config.ts';
import type { CustomFieldValue, EntityName, EntityTypes, TicketPriority, TicketStatus, TicketType } from '../../schemas/canonical.ts';

/** The migration's rules as the mapper needs them. Pure data: no clients, no clock. */
export interface MappingRules {
  capabilities: TargetCapabilities;
  skipAttachments: boolean;
  /** Where attachments the target cannot hold are kept as links. Default null: they are named, not carried. */
  attachmentLinks?: Readonly<{ directory: string; baseUrl: string }> | null;
  /** Canonical status or the source's own status name → target status. */
  statusMap: Readonly<Record<string, TicketStatus>>;
  priorityMap: Partial<Record<TicketPriority, TicketPriority>>;
  typeMap: Partial<Record<TicketType, TicketType>>;
  /** Source custom field key → target key, or null to leave the field behind. Default: same key. */
  fieldMap?: Readonly<Record<string, string | null>>;
  /** Per source field key: source option label → target option label. */
  valueMaps?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Target field key → value for tickets that have none. */
  fieldDefaults?: Readonly<Record<string, CustomFieldValue>>;
  /** Source group name → target group name, or null to leave it behind. */
  groupMap?: Readonly<Record<string, string | null>>;
  filters?: Readonly<FiltersSection>;
  /** Carry inline images as ordinary attachments. Default false. */
  inlineImagesAsAttachments?: boolean;
  /** Tag added to every migrated ticket. */
  addTag?: string | null;
  /** Leave the knowledge base behind. Default false. */
  skipKb?: boolean;
  /** What a target that sets its own times cannot store, kept visibly; applied only when `capabilities.setsOwnTimes`. Default: off. */
  originals?: OriginalsRules;
}

export type MapResult<E extends EntityName> =
  | { kind: 'planned'; record: EntityTypes[E]; notes: string[] }
  | { kind: 'filtered'; rule: string };

/** The mapper's rules from a parsed migration file and the target's capabilities. */
export function rulesFromConfig(config: Readonly<MigrationConfig>, capabilities: TargetCapabilities): MappingRules {
  const { options, mapping, filters } = config;
  return {
    capabilities,
    skipAttachments: options.skipAttachments,
    attachmentLinks: options.attachmentLinks,
    statusMap: options.statusMap,
    priorityMap: options.priorityMap,
    typeMap: options.typeMap,
    fieldMap: mapping.fields,
    valueMaps: mapping.values,
    fieldDefaults: mapping.defaults,
    groupMap: mapping.groups,
    filters,
    inlineImagesAsAttachments: options.inlineImagesAsAttachments,
    addTag: options.addTag,
    skipKb: options.skipKb,
    originals: { ...options.originals, sourcePlatform: config.source.platform },
  };
}
