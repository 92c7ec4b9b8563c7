import avro from 'avsc';
import type { EntityName } from './canonical.ts';

/**
 * Avro schemas of the canonical model, for the wire (Kafka with a schema registry). The TypeScript
 * types in canonical.ts are the other half; tests/unit/schemas/avro.test.ts pins the two together.
 */
const NS = 'io.helpdeskmigrator.canonical';
const str = 'string';
const optStr = ['null', 'string'];
const strings = { type: 'array', items: 'string' };
const customFields = {
  type: 'map',
  values: ['null', 'string', 'double', 'boolean', { type: 'array', items: 'string' }],
};
const field = (name: string, type: unknown) => ({ name, type });
const stamps = [field('createdAt', str), field('updatedAt', str)];

const attachment = {
  type: 'record',
  name: 'AttachmentMeta',
  fields: [field('sourceId', str), field('fileName', str), field('contentType', str), field('size', 'long'), field('url', str), field('inline', 'boolean')],
};
const comment = {
  type: 'record',
  name: 'Comment',
  fields: [
    field('sourceId', str),
    field('authorId', optStr),
    field('body', str),
    field('public', 'boolean'),
    field('createdAt', str),
    field('attachments', { type: 'array', items: attachment }),
  ],
};
const translation = {
  type: 'record',
  name: 'KbTranslation',
  fields: [field('locale', str), field('title', str), field('body', str), field('draft', 'boolean'), field('updatedAt', str)],
};
const option = { type: 'record', name: 'FieldOption', fields: [field('value', str), field('label', str)] };

export const AVRO_SCHEMAS: Record<EntityName, Record<string, unknown>> = {
  group: { type: 'record', name: 'Group', namespace: NS, fields: [field('sourceId', str), field('name', str), field('description', optStr), ...stamps] },
  agent: {
    type: 'record',
    name: 'Agent',
    namespace: NS,
    fields: [
      field('sourceId', str),
      field('name', str),
      field('email', str),
      field('role', { type: 'enum', name: 'AgentRole', symbols: ['admin', 'agent', 'light'] }),
      field('active', 'boolean'),
      field('deleted', 'boolean'),
      field('groupIds', strings),
      field('timeZone', optStr),
      ...stamps,
    ],
  },
  organization: {
    type: 'record',
    name: 'Organization',
    namespace: NS,
    fields: [
      field('sourceId', str),
      field('name', str),
      field('domains', strings),
      field('notes', optStr),
      field('tags', strings),
      field('customFields', customFields),
      ...stamps,
    ],
  },
  contact: {
    type: 'record',
    name: 'Contact',
    namespace: NS,
    fields: [
      field('sourceId', str),
      field('name', str),
      field('email', optStr),
      field('phone', optStr),
      field('organizationId', optStr),
      field('tags', strings),
      field('timeZone', optStr),
      field('customFields', customFields),
      ...stamps,
    ],
  },
  ticketField: {
    type: 'record',
    name: 'TicketField',
    namespace: NS,
    fields: [
      field('sourceId', str),
      field('key', str),
      field('title', str),
      field('type', {
        type: 'enum',
        name: 'TicketFieldType',
        symbols: ['text', 'textarea', 'checkbox', 'date', 'integer', 'decimal', 'dropdown', 'multiselect', 'regex'],
      }),
      field('required', 'boolean'),
      field('active', 'boolean'),
      field('options', { type: 'array', items: option }),
      field('pattern', optStr),
      ...stamps,
    ],
  },
  ticket: {
    type: 'record',
    name: 'Ticket',
    namespace: NS,
    fields: [
      field('sourceId', str),
      field('subject', str),
      field('status', { type: 'enum', name: 'TicketStatus', symbols: ['new', 'open', 'pending', 'hold', 'solved', 'closed'] }),
      field('priority', ['null', { type: 'enum', name: 'TicketPriority', symbols: ['low', 'normal', 'high', 'urgent'] }]),
      field('type', ['null', { type: 'enum', name: 'TicketType', symbols: ['question', 'incident', 'problem', 'task'] }]),
      field('requesterId', optStr),
      field('assigneeId', optStr),
      field('groupId', optStr),
      field('organizationId', optStr),
      field('tags', strings),
      field('customFields', customFields),
      ...stamps,
      field('comments', { type: 'array', items: comment }),
      // Added after the first schema: a default keeps older records readable.
      { name: 'sourceStatus', type: optStr, default: null },
      { name: 'closedByInactivity', type: ['null', 'boolean'], default: null },
    ],
  },
  kbCategory: {
    type: 'record',
    name: 'KbCategory',
    namespace: NS,
    fields: [field('sourceId', str), field('name', str), field('description', optStr), field('locale', str), field('position', 'int'), ...stamps],
  },
  kbSection: {
    type: 'record',
    name: 'KbSection',
    namespace: NS,
    fields: [
      field('sourceId', str),
      field('categoryId', str),
      field('name', str),
      field('description', optStr),
      field('locale', str),
      field('position', 'int'),
      ...stamps,
    ],
  },
  kbArticle: {
    type: 'record',
    name: 'KbArticle',
    namespace: NS,
    fields: [
      field('sourceId', str),
      field('sectionId', str),
      field('authorId', optStr),
      field('locale', str),
      field('title', str),
      field('body', str),
      field('draft', 'boolean'),
      field('tags', strings),
      field('position', 'int'),
      ...stamps,
      field('translations', { type: 'array', items: translation }),
    ],
  },
};

const cache = new Map<EntityName, avro.Type>();

/** The parsed Avro type of an entity. */
export function avroType(entity: EntityName): avro.Type {
  let type = cache.get(entity);
  if (!type) {
    type = avro.Type.forSchema(AVRO_SCHEMAS[entity] as avro.Schema, { wrapUnions: false });
    cache.set(entity, type);
  }
  return type;
}

const WIRE = 'io.helpdeskmigrator.wire';
const pascal = (entity: EntityName) => entity[0].toUpperCase() + entity.slice(1);
const op = (entity: EntityName) => ({ type: 'enum', name: `${pascal(entity)}Op`, symbols: ['upsert', 'delete'] });

/**
 * The value of a stream's records topic (what the poller publishes): the canonical Envelope, the
 * record null for a deletion. Fields added later need defaults, so that consumers keep reading.
 */
export function recordsValueSchema(entity: EntityName): avro.Schema {
  return {
    type: 'record',
    name: `${pascal(entity)}Envelope`,
    namespace: WIRE,
    fields: [
      field('entity', str),
      field('op', op(entity)),
      field('sourceId', str),
      field('updatedAt', str),
      { name: 'record', type: ['null', AVRO_SCHEMAS[entity]], default: null },
      { name: 'stamp', type: optStr, default: null },
    ],
  } as avro.Schema;
}

/** The value of a stream's planned topic (what the mapper publishes): a mapped record with its notes, or a deletion. */
export function plannedValueSchema(entity: EntityName): avro.Schema {
  return {
    type: 'record',
    name: `${pascal(entity)}Planned`,
    namespace: WIRE,
    fields: [
      { name: 'op', type: op(entity), default: 'upsert' },
      field('entity', str),
      field('sourceId', str),
      field('updatedAt', str),
      { name: 'record', type: ['null', AVRO_SCHEMAS[entity]], default: null },
      { name: 'notes', type: strings, default: [] },
    ],
  } as avro.Schema;
}

/** The value of a migration's compacted checkpoints topic: the poller's checkpoint data, as JSON. */
export const CHECKPOINT_VALUE_SCHEMA: avro.Schema = {
  type: 'record',
  name: 'Checkpoint',
  namespace: WIRE,
  fields: [field('json', str), field('savedAt', str)],
} as avro.Schema;
