import type { TargetCapabilities } from '../../connectors/sdk/contract.ts';
import type { MigrationConfig } from '../../schemas/config.ts';
import type { MappingRules } from './record.mapping.ts';

/** The mapper's rules from a parsed migration file and the target's capabilities. */
export function rulesFromConfig(config: Readonly<MigrationConfig>, capabilities: TargetCapabilities): MappingRules {
  const { options, mapping, filters } = config;
  return {
    capabilities,
    skipAttachments: options.skipAttachments,
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
  };
}
