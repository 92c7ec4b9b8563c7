import type { Connector, TargetCapabilities } from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { CustomFieldValue, TicketField, TicketFieldType } from '../../schemas/canonical.ts';
import type { MigrationConfig } from '../../schemas/config.ts';
import { agentByEmail, groupByName, readPlatformSchema, type PlatformSchema } from './platform-schema.ts';

/** Where one source custom field lands. */
export interface FieldPlan {
  sourceKey: string;
  title: string;
  sourceType: TicketFieldType;
  /** null: left behind by `mapping.fields`. */
  targetKey: string | null;
  action: 'exists' | 'create' | 'left-behind';
  /** The target's type for it (existing field) or the type it is created with. */
  targetType: TicketFieldType | null;
  /** When the target has no such type: what it is stored as instead. */
  fallback: string | null;
  options: string[];
}

/** An agent whose work goes to the default agent. */
export interface Reassignment {
  sourceId: string;
  name: string;
  email: string;
  reason: 'deactivated' | 'deleted' | 'unmatched';
  to: string | null;
}

export interface PreflightReport {
  fields: FieldPlan[];
  reassigned: Reassignment[];
  /** The agent receiving reassigned work (email), when known. */
  defaultAgent: string | null;
  /** Things worth a look that do not stop the migration. */
  warnings: string[];
}

const TEXTUAL: ReadonlySet<TicketFieldType> = new Set(['text', 'textarea', 'regex']);
/** Whether a source field's values fit a target field of another type as they are. */
export const compatible = (from: TicketFieldType, to: TicketFieldType) => from === to || (TEXTUAL.has(from) && TEXTUAL.has(to)) || (from === 'integer' && to === 'decimal');

const list = (values: string[], max = 12) => (values.length === 0 ? '(none)' : values.length > max ? `${values.slice(0, max).join(', ')}, …` : values.join(', '));
const quoted = (values: string[]) => list(values.map((v) => JSON.stringify(v)));

function checkValue(path: string, value: CustomFieldValue, field: TicketField, options: string[], problems: string[]): void {
  const fail = (expected: string) => problems.push(`${path}: ${JSON.stringify(value)} does not fit ${field.type} field "${field.key}"; expected ${expected}`);
  switch (field.type) {
    case 'checkbox':
      if (typeof value !== 'boolean') fail('true or false');
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) fail('a whole number');
      return;
    case 'decimal':
      if (typeof value !== 'number') fail('a number');
      return;
    case 'date':
      if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) fail('a date YYYY-MM-DD');
      return;
    case 'dropdown':
      if (typeof value !== 'string' || !options.includes(value)) fail(`one of ${quoted(options)}`);
      return;
    case 'multiselect':
      if (!Array.isArray(value) || value.some((v) => !options.includes(v))) fail(`a list of ${quoted(options)}`);
      return;
    case 'regex':
      if (typeof value !== 'string' || (field.pattern && !new RegExp(field.pattern).test(value))) fail(`text matching ${field.pattern ?? 'its pattern'}`);
      return;
    default:
      if (typeof value !== 'string') fail('text');
  }
}

/** Mapping references that only the source can answer for (fields, options, groups, statuses the target lacks). */
function checkSourceSide(config: Readonly<MigrationConfig>, source: PlatformSchema, problems: string[]): void {
  const { mapping } = config;
  const keys = source.ticketFields.map((f) => f.key);
  for (const key of Object.keys(mapping.fields)) {
    if (!keys.includes(key)) problems.push(`mapping.fields.${key}: the source (${source.platform}) has no ticket field "${key}"; it has ${list(keys)}`);
  }
  for (const [key, map] of Object.entries(mapping.values)) {
    const field = source.ticketFields.find((f) => f.key === key);
    if (!field) {
      problems.push(`mapping.values.${key}: the source (${source.platform}) has no ticket field "${key}"; it has ${list(keys)}`);
      continue;
    }
    if (field.type !== 'dropdown' && field.type !== 'multiselect') {
      problems.push(`mapping.values.${key}: source field "${key}" is a ${field.type} field; value maps apply to dropdown and multi-select fields`);
      continue;
    }
    const labels = field.options.map((o) => o.label);
    for (const label of Object.keys(map)) {
      if (!labels.includes(label)) problems.push(`mapping.values.${key}.${label}: source field "${key}" has no option "${label}"; it has ${quoted(labels)}`);
    }
  }
  const groupNames = source.groups.map((g) => g.name);
  for (const name of Object.keys(mapping.groups)) {
    if (!groupByName(source.groups, name)) problems.push(`mapping.groups.${name}: the source (${source.platform}) has no group "${name}"; it has ${quoted(groupNames)}`);
  }
}

/** Mapping references the target's declared capabilities answer for, with no request to either side. */
function checkCapabilities(config: Readonly<MigrationConfig>, capabilities: TargetCapabilities, problems: string[]): void {
  const { options } = config;
  const maps = [
    ['statusMap', options.statusMap, capabilities.ticketStatuses],
    ['priorityMap', options.priorityMap, capabilities.ticketPriorities],
    ['typeMap', options.typeMap, capabilities.ticketTypes],
  ] as const;
  for (const [name, map, supported] of maps) {
    for (const [from, to] of Object.entries(map)) {
      if (to && !(supported as readonly string[]).includes(to)) {
        problems.push(`options.${name}.${from}: the target (${config.target.platform}) has no value "${to}"; it has ${list([...supported])}`);
      }
    }
  }
}

/** The target field key each source field's values land on. */
const targetKeyOf = (config: Readonly<MigrationConfig>, key: string) => (key in config.mapping.fields ? config.mapping.fields[key] : key);

function checkTargetSide(config: Readonly<MigrationConfig>, source: PlatformSchema, target: PlatformSchema, problems: string[], report: PreflightReport): void {
  const { mapping } = config;
  const targetKeys = target.ticketFields.map((f) => f.key);
  const fallbacks = target.capabilities.fieldTypeFallbacks ?? {};
  const landing = new Map<string, { type: TicketFieldType; options: string[]; field: TicketField }>();

  for (const field of source.ticketFields) {
    const targetKey = targetKeyOf(config, field.key);
    const valueMap = mapping.values[field.key] ?? {};
    const mappedOptions = [...new Set(field.options.map((o) => valueMap[o.label] ?? o.label))];
    if (targetKey === null) {
      report.fields.push({ sourceKey: field.key, title: field.title, sourceType: field.type, targetKey: null, action: 'left-behind', targetType: null, fallback: null, options: [] });
      continue;
    }
    const existing = target.ticketFields.find((f) => f.key === targetKey);
    // A field mapped onto another key must find it on the target; one kept under its own key is created.
    if (!existing && targetKey !== field.key) {
      problems.push(`mapping.fields.${field.key}: the target (${target.platform}) has no ticket field "${targetKey}"; it has ${list(targetKeys)}`);
      continue;
    }
    if (existing) {
      if (!compatible(field.type, existing.type)) {
        problems.push(`mapping.fields.${field.key}: source field "${field.key}" is ${field.type} but target field "${targetKey}" is ${existing.type}; their values do not fit`);
        continue;
      }
      const targetLabels = existing.options.map((o) => o.label);
      if (existing.type === 'dropdown' || existing.type === 'multiselect') {
        for (const [from, to] of Object.entries(valueMap)) {
          if (!targetLabels.includes(to)) problems.push(`mapping.values.${field.key}.${from}: target field "${targetKey}" has no option "${to}"; it has ${quoted(targetLabels)}`);
        }
      }
      const options = [...new Set([...targetLabels, ...mappedOptions])];
      landing.set(targetKey, { type: existing.type, options, field: existing });
      report.fields.push({ sourceKey: field.key, title: field.title, sourceType: field.type, targetKey, action: 'exists', targetType: existing.type, fallback: fallbacks[existing.type] ?? null, options });
    } else {
      landing.set(targetKey, { type: field.type, options: mappedOptions, field });
      report.fields.push({ sourceKey: field.key, title: field.title, sourceType: field.type, targetKey, action: 'create', targetType: field.type, fallback: fallbacks[field.type] ?? null, options: mappedOptions });
    }
  }
  for (const t of target.ticketFields) if (!landing.has(t.key)) landing.set(t.key, { type: t.type, options: t.options.map((o) => o.label), field: t });

  for (const [key, value] of Object.entries(mapping.defaults)) {
    const land = landing.get(key);
    if (!land) {
      problems.push(`mapping.defaults.${key}: neither the target (${target.platform}) nor the mapped source fields have a ticket field "${key}"; the target has ${list(targetKeys)}`);
      continue;
    }
    checkValue(`mapping.defaults.${key}`, value, { ...land.field, type: land.type }, land.options, problems);
  }
  for (const f of target.ticketFields) {
    if (!f.required) continue;
    const fed = source.ticketFields.some((s) => targetKeyOf(config, s.key) === f.key);
    if (!fed && !(f.key in mapping.defaults)) {
      report.warnings.push(`target field "${f.key}" (${f.title}) is required and no source field maps onto it; add mapping.defaults.${f.key}`);
    }
  }

  const targetGroups = target.groups.map((g) => g.name);
  for (const [from, to] of Object.entries(mapping.groups)) {
    // A group kept under its own name is created when missing; a renamed one must exist.
    if (to !== null && to !== from && !groupByName(target.groups, to)) problems.push(`mapping.groups.${from}: the target (${target.platform}) has no group "${to}"; it has ${quoted(targetGroups)}`);
  }

  const activeSource = source.agents.filter((a) => a.active && !a.deleted);
  const email = config.options.defaultAgentEmail;
  if (email && !agentByEmail(target.agents.filter((a) => a.active && !a.deleted), email) && !agentByEmail(activeSource, email)) {
    problems.push(
      `options.defaultAgentEmail: no active agent ${email} on the target (${target.platform}) nor among the source's active agents; the target has ${list(target.agents.filter((a) => a.active).map((a) => a.email))}`,
    );
  }
  report.defaultAgent = email ?? (activeSource.find((a) => a.role === 'admin') ?? activeSource[0])?.email ?? null;
  for (const a of source.agents) {
    if (a.deleted || !a.active) {
      report.reassigned.push({ sourceId: a.sourceId, name: a.name, email: a.email, reason: a.deleted ? 'deleted' : 'deactivated', to: report.defaultAgent });
    }
  }
}

/** Every problem of a mapping against both schemas (pure: no requests), and the plan it gives. */
export function validateMapping(config: Readonly<MigrationConfig>, source: PlatformSchema, target: PlatformSchema): { problems: string[]; report: PreflightReport } {
  const problems: string[] = [];
  const report: PreflightReport = { fields: [], reassigned: [], defaultAgent: null, warnings: [] };
  checkCapabilities(config, target.capabilities, problems);
  checkSourceSide(config, source, problems);
  checkTargetSide(config, source, target, problems, report);
  return { problems, report };
}

function fail(origin: string, problems: string[]): never {
  throw new HdmError('CONFIG_INVALID', `${origin}: the mapping refers to what does not exist:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
    context: { field: problems[0]?.split(':')[0] },
  });
}

/**
 * Checks every reference of the mapping against both platforms before any work: what the target's
 * declared capabilities and the source answer first (no request reaches the target when it is wrong),
 * then the target side (reads only).
 */
export async function preflight(config: Readonly<MigrationConfig>, source: Connector, target: Connector, origin = 'migration file'): Promise<PreflightReport> {
  const problems: string[] = [];
  checkCapabilities(config, target.capabilities, problems);
  // Each side's check() fails fast (a wrong URL or credentials) before its schema is read with retries.
  await source.check();
  const sourceSchema = await readPlatformSchema(source);
  checkSourceSide(config, sourceSchema, problems);
  const ids = [
    ['filters.ticketIds', 'ticket', config.filters.ticketIds],
    ['filters.articleIds', 'kbArticle', config.filters.articleIds],
  ] as const;
  for (const [path, entity, wanted] of ids) {
    // A long list is checked by the run itself (each absent ID simply never appears).
    if (wanted.length === 0 || wanted.length > 200) continue;
    const found = await Promise.all(wanted.map((id) => source.get(entity, id).then((r) => r !== null, () => false)));
    const absent = wanted.filter((_, i) => !found[i]);
    if (absent.length > 0) problems.push(`${path}: the source (${source.platform}) has no ${entity} ${absent.join(', ')}`);
  }
  if (problems.length > 0) fail(origin, problems);
  const report: PreflightReport = { fields: [], reassigned: [], defaultAgent: null, warnings: [] };
  await target.check();
  const targetSchema = await readPlatformSchema(target);
  checkTargetSide(config, sourceSchema, targetSchema, problems, report);
  if (problems.length > 0) fail(origin, problems);
  return report;
}

export function formatPreflight(report: PreflightReport): string {
  const lines: string[] = [];
  const created = report.fields.filter((f) => f.action === 'create');
  if (created.length) lines.push(`custom fields created on the target: ${created.map((f) => `${f.targetKey} (${f.targetType})`).join(', ')}`);
  for (const f of report.fields.filter((x) => x.fallback)) lines.push(`field ${f.sourceKey}: the target has no ${f.targetType} type; stored as ${f.fallback}`);
  for (const f of report.fields.filter((x) => x.action === 'left-behind')) lines.push(`field ${f.sourceKey}: left behind (mapping.fields)`);
  if (report.reassigned.length) {
    lines.push(`re-assigned to the default agent ${report.defaultAgent ?? '(none)'} (not created on the target; the agent row below counts those the source lists as filtered):`);
    for (const a of report.reassigned) lines.push(`  ${a.name} <${a.email}> (${a.reason}, source ID ${a.sourceId})`);
  }
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

/**
 * Adds to the report the users a run re-assigned that were not already listed (deactivated and
 * deleted agents are): authors and assignees the source no longer has, or that did not migrate.
 */
export async function addUnmatched(report: PreflightReport, userIds: Iterable<string>, source: Connector, lookUpAtMost = 100): Promise<void> {
  const known = new Set(report.reassigned.map((a) => a.sourceId));
  let looked = 0;
  for (const id of userIds) {
    if (known.has(id)) continue;
    known.add(id);
    let who: { name: string; email: string | null } | null = null;
    if (looked++ < lookUpAtMost) who = (await source.get('contact', id).catch(() => null)) ?? (await source.get('agent', id).catch(() => null));
    report.reassigned.push({ sourceId: id, name: who?.name ?? '', email: who?.email ?? '', reason: 'unmatched', to: report.defaultAgent });
  }
}
