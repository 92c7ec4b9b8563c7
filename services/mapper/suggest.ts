import { Document, isMap, isPair, isScalar, type YAMLMap } from 'yaml';
import { TICKET_PRIORITIES, TICKET_STATUSES, TICKET_TYPES, type CustomFieldValue, type TicketField } from '../../schemas/canonical.ts';
import { noFilters } from '../../schemas/mapping.config.ts';
import { compatible } from './preflight.ts';
import { agentByEmail, groupByName, type PlatformSchema } from './platform-schema.ts';
import { mapPriority, mapStatus, mapType } from './record.mapping.ts';
import type { MappingRules } from './rules.ts';

const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/** A value a required field can start with; the user reviews it. */
function placeholder(field: TicketField, today: string): CustomFieldValue | undefined {
  switch (field.type) {
    case 'dropdown':
      return field.options[0]?.label;
    case 'multiselect':
      return field.options[0] ? [field.options[0].label] : undefined;
    case 'checkbox':
      return false;
    case 'integer':
    case 'decimal':
      return 0;
    case 'date':
      return today;
    case 'regex':
      return undefined;
    default:
      return 'n/a';
  }
}

interface Suggestion {
  document: Record<string, unknown>;
  /** Comments by dotted path of a key (`mapping.fields.product`), shown above it or after its value. */
  before: Map<string, string>;
  after: Map<string, string>;
}

/**
 * A complete starting mapping from both platforms' schemas: every status, priority and type, every
 * source field, option and group with where it lands, defaults for required target fields, and
 * every filter and option at its default. `raw` is the user's migration file, kept as it was.
 */
export function suggestMapping(raw: Record<string, unknown>, source: PlatformSchema, target: PlatformSchema, now = new Date()): string {
  const s: Suggestion = { document: {}, before: new Map(), after: new Map() };
  const caps = target.capabilities;
  const identity: MappingRules = { capabilities: caps, skipAttachments: false, statusMap: {}, priorityMap: {}, typeMap: {} };
  const rawOptions = (raw.options ?? {}) as Record<string, unknown>;

  const statusMap: Record<string, string> = Object.fromEntries(TICKET_STATUSES.map((v) => [v, mapStatus(v, identity)]));
  // The source's own statuses (custom lifecycle ones included), each where it lands by default.
  const own = (source.statuses ?? []).filter((st) => !(TICKET_STATUSES as readonly string[]).includes(st.name));
  for (const st of own) statusMap[st.name] = mapStatus(st.status, identity, st.name);
  const priorityMap = Object.fromEntries(TICKET_PRIORITIES.map((v) => [v, mapPriority(v, identity)]));
  const typeMap: Record<string, string> = {};
  for (const t of TICKET_TYPES) {
    const to = mapType(t, identity);
    if (to) typeMap[t] = to;
    else s.before.set('options.typeMap', `${s.before.get('options.typeMap') ?? ''} ${t}: the target has no such type; tickets of this type arrive without one\n`);
  }
  const ownLines = own.map((st) => `   ${st.name}: ${st.inactive ? 'inactive (done) at the source' : 'active at the source'}, reads as ${st.status}`);
  s.before.set(
    'options.statusMap',
    ` source status → target status; the target (${target.platform}) has ${caps.ticketStatuses.join(', ')}${ownLines.length ? `\n the source's own statuses (keys by their ${source.platform} name):\n${ownLines.join('\n')}` : ''}`,
  );
  s.before.set('options.priorityMap', ` source priority → target priority; the target has ${caps.ticketPriorities.join(', ')}`);
  s.before.set('options.typeMap', ` source type → target type; the target has ${caps.ticketTypes.join(', ')}\n${s.before.get('options.typeMap') ?? ''}`.trimEnd());

  const activeSource = source.agents.filter((a) => a.active && !a.deleted);
  const fallbackAgent = activeSource.find((a) => a.role === 'admin') ?? activeSource[0];
  const agentLines = source.agents.map((a) => {
    const fate = a.deleted ? 'deleted → default agent' : !a.active ? 'deactivated → default agent' : agentByEmail(target.agents, a.email) ? 'matched by email on the target' : 'created on the target';
    return `   ${a.email} (${a.name}): ${fate}`;
  });
  s.before.set(
    'options.defaultAgentEmail',
    ` receives what deactivated, deleted or unmatched agents did; null: ${fallbackAgent ? `the source's first active admin, ${fallbackAgent.email}` : 'none'}\n agents (matched by email):\n${agentLines.join('\n')}`,
  );

  // What the file already says wins over what is suggested, so suggesting again keeps the user's edits.
  const rawMapping = (raw.mapping ?? {}) as Record<string, Record<string, unknown>>;
  const kept = <T>(suggested: Record<string, T>, existing: unknown): Record<string, T> => ({ ...suggested, ...((existing ?? {}) as Record<string, T>) });
  const options: Record<string, unknown> = {
    ...rawOptions,
    skipAttachments: rawOptions.skipAttachments ?? false,
    inlineImagesAsAttachments: rawOptions.inlineImagesAsAttachments ?? false,
    addTag: rawOptions.addTag ?? null,
    skipKb: rawOptions.skipKb ?? false,
    defaultAgentEmail: rawOptions.defaultAgentEmail ?? null,
    statusMap: kept(statusMap, rawOptions.statusMap),
    priorityMap: kept(priorityMap, rawOptions.priorityMap),
    typeMap: kept(typeMap, rawOptions.typeMap),
  };
  s.after.set('options.addTag', ' e.g. migrated: a tag added to every migrated ticket');
  s.after.set('options.inlineImagesAsAttachments', ' true: images in comment bodies arrive as ordinary attachments');

  const fields: Record<string, string | null> = {};
  const values: Record<string, Record<string, string>> = {};
  const fallbacks = caps.fieldTypeFallbacks ?? {};
  const fed = new Set<string>();
  for (const field of source.ticketFields) {
    const path = `mapping.fields.${field.key}`;
    const existing = target.ticketFields.find((f) => f.key === field.key) ?? target.ticketFields.find((f) => same(f.title, field.title));
    if (existing && !compatible(field.type, existing.type)) {
      fields[field.key] = null;
      s.after.set(path, ` ${field.type}; target field "${existing.key}" is ${existing.type}: left behind — map it onto another field or remove this line to create "${field.key}"`);
      continue;
    }
    const targetKey = existing?.key ?? field.key;
    fields[field.key] = targetKey;
    fed.add(targetKey);
    const fallback = fallbacks[existing?.type ?? field.type];
    s.after.set(
      path,
      ` ${field.type} "${field.title}" → ${existing ? `existing ${existing.type} field "${existing.title}"` : `created as ${field.type}`}${fallback ? `; the target stores it as ${fallback}` : ''}`,
    );
    if (field.type !== 'dropdown' && field.type !== 'multiselect') continue;
    const map: Record<string, string> = {};
    const added: string[] = [];
    for (const o of field.options) {
      if (!existing) map[o.label] = o.label;
      else {
        const match = existing.options.find((x) => same(x.label, o.label));
        if (match) map[o.label] = match.label;
        else added.push(o.label);
      }
    }
    values[field.key] = map;
    if (added.length) s.before.set(`mapping.values.${field.key}`, ` not on the target yet, added as new options unless mapped here: ${added.join(', ')}`);
  }
  const defaults: Record<string, CustomFieldValue> = {};
  const today = now.toISOString().slice(0, 10);
  for (const f of target.ticketFields) {
    if (!f.required || fed.has(f.key)) continue;
    const value = placeholder(f, today);
    if (value === undefined || value === null) {
      s.before.set('mapping.defaults', `${s.before.get('mapping.defaults') ?? ''} ${f.key} (${f.type}) is required on the target: add a default here\n`);
      continue;
    }
    defaults[f.key] = value;
    s.after.set(`mapping.defaults.${f.key}`, ` required on the target, no source field feeds it — review this value`);
  }
  const groups: Record<string, string | null> = {};
  for (const g of source.groups) {
    const match = groupByName(target.groups, g.name);
    groups[g.name] = match?.name ?? g.name;
    s.after.set(`mapping.groups.${g.name}`, match ? ' exists on the target' : ' created on the target');
  }
  s.before.set('mapping.fields', ' source field key → target field key (null: leave it behind)');
  s.before.set('mapping.values', ' per source dropdown / multi-select field: source option → target option');
  s.before.set('mapping.defaults', ` target field key → value for tickets that have none\n${s.before.get('mapping.defaults') ?? ''}`.trimEnd());
  s.before.set('mapping.groups', ' source group name → target group name (null: leave it behind)');
  s.before.set('filters', ' which tickets and articles move; every condition given must hold, empty means no condition');
  s.after.set('filters.createdFrom', ' e.g. 2024-01-01');
  s.after.set('filters.tags', ' tickets with at least one of these tags');
  s.after.set('filters.ticketIds', ' only these source ticket IDs');

  s.document = {
    ...raw,
    options,
    mapping: {
      fields: kept(fields, rawMapping.fields),
      values: Object.fromEntries(
        [...new Set([...Object.keys(values), ...Object.keys(rawMapping.values ?? {})])].map((key) => [key, kept(values[key] ?? {}, (rawMapping.values as Record<string, unknown> | undefined)?.[key])]),
      ),
      defaults: kept(defaults, rawMapping.defaults),
      groups: kept(groups, rawMapping.groups),
    },
    filters: { ...noFilters(), ...((raw.filters ?? {}) as object) },
  };
  return render(s, source.platform, target.platform, now);
}

function render(s: Suggestion, from: string, to: string, now: Date): string {
  const doc = new Document(s.document);
  doc.commentBefore = ` Starting mapping from ${from} to ${to}, written by \`hdm mapping suggest\` on ${now.toISOString().slice(0, 10)}.\n Review it, then try it with \`hdm demo\`. Every key is described in docs/mapping.md.`;
  const walk = (map: YAMLMap, prefix: string) => {
    for (const pair of map.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const path = prefix ? `${prefix}.${String(pair.key.value)}` : String(pair.key.value);
      const before = s.before.get(path);
      if (before) pair.key.commentBefore = before;
      const after = s.after.get(path);
      if (after) {
        if (isScalar(pair.value)) pair.value.comment = after;
        else pair.key.commentBefore = [pair.key.commentBefore, after].filter(Boolean).join('\n');
      }
      if (isMap(pair.value)) walk(pair.value, path);
    }
  };
  if (isMap(doc.contents)) walk(doc.contents, '');
  return doc.toString({ lineWidth: 0 });
}
