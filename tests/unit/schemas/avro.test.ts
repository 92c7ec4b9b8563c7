import { describe, expect, it } from 'vitest';
import { fakeHelpdesk } from '../../../connectors/sdk/fake-helpdesk.ts';
import { AVRO_SCHEMAS, avroType } from '../../../schemas/avro.ts';
import type {
  Agent,
  AttachmentMeta,
  Comment,
  Contact,
  EntityName,
  Group,
  KbArticle,
  KbCategory,
  KbSection,
  KbTranslation,
  Organization,
  Ticket,
  TicketField,
} from '../../../schemas/canonical.ts';
import { ENTITIES } from '../../../schemas/canonical.ts';

// `satisfies Record<keyof T, true>` fails to compile when a key is missing or extra: these lists are
// the TypeScript side of the pin, and the test compares them with the Avro side.
const keys = {
  group: { sourceId: true, name: true, description: true, createdAt: true, updatedAt: true } satisfies Record<keyof Group, true>,
  agent: {
    sourceId: true, name: true, email: true, role: true, active: true, deleted: true, groupIds: true, timeZone: true, createdAt: true, updatedAt: true,
  } satisfies Record<keyof Agent, true>,
  organization: {
    sourceId: true, name: true, domains: true, notes: true, tags: true, customFields: true, createdAt: true, updatedAt: true,
  } satisfies Record<keyof Organization, true>,
  contact: {
    sourceId: true, name: true, email: true, phone: true, organizationId: true, tags: true, timeZone: true, customFields: true, createdAt: true, updatedAt: true,
  } satisfies Record<keyof Contact, true>,
  ticketField: {
    sourceId: true, key: true, title: true, type: true, required: true, active: true, options: true, pattern: true, createdAt: true, updatedAt: true,
  } satisfies Record<keyof TicketField, true>,
  ticket: {
    sourceId: true, subject: true, status: true, priority: true, type: true, requesterId: true, assigneeId: true, groupId: true, organizationId: true,
    tags: true, customFields: true, createdAt: true, updatedAt: true, comments: true, sourceStatus: true, closedByInactivity: true,
  } satisfies Record<keyof Ticket, true>,
  kbCategory: { sourceId: true, name: true, description: true, locale: true, position: true, createdAt: true, updatedAt: true } satisfies Record<keyof KbCategory, true>,
  kbSection: {
    sourceId: true, categoryId: true, name: true, description: true, locale: true, position: true, createdAt: true, updatedAt: true,
  } satisfies Record<keyof KbSection, true>,
  kbArticle: {
    sourceId: true, sectionId: true, authorId: true, locale: true, title: true, body: true, draft: true, tags: true, position: true, createdAt: true,
    updatedAt: true, translations: true,
  } satisfies Record<keyof KbArticle, true>,
} satisfies Record<EntityName, Record<string, true>>;

const nested = {
  Comment: { sourceId: true, authorId: true, body: true, public: true, createdAt: true, attachments: true } satisfies Record<keyof Comment, true>,
  AttachmentMeta: { sourceId: true, fileName: true, contentType: true, size: true, url: true, inline: true } satisfies Record<keyof AttachmentMeta, true>,
  KbTranslation: { locale: true, title: true, body: true, draft: true, updatedAt: true } satisfies Record<keyof KbTranslation, true>,
};

function namedRecords(schema: unknown, out = new Map<string, string[]>()): Map<string, string[]> {
  if (Array.isArray(schema)) schema.forEach((s) => namedRecords(s, out));
  else if (schema && typeof schema === 'object') {
    const s = schema as { type?: unknown; name?: string; fields?: { name: string; type: unknown }[]; items?: unknown; values?: unknown };
    if (s.type === 'record' && s.name && s.fields) {
      out.set(s.name, s.fields.map((f) => f.name));
      s.fields.forEach((f) => namedRecords(f.type, out));
    }
    if (s.items) namedRecords(s.items, out);
    if (s.values) namedRecords(s.values, out);
    if (typeof s.type === 'object') namedRecords(s.type, out);
  }
  return out;
}

describe('Avro schemas and TypeScript types', () => {
  it('have the same fields for every entity', () => {
    for (const entity of ENTITIES) {
      const avroFields = (AVRO_SCHEMAS[entity].fields as { name: string }[]).map((f) => f.name).sort();
      expect(avroFields, entity).toEqual(Object.keys(keys[entity]).sort());
    }
  });

  it('have the same fields for nested records', () => {
    const records = namedRecords(Object.values(AVRO_SCHEMAS));
    for (const [name, fields] of Object.entries(nested)) {
      expect(records.get(name)?.sort(), name).toEqual(Object.keys(fields).sort());
    }
  });

  it('round-trip every generated record unchanged', () => {
    const h = fakeHelpdesk({ seed: 3, tickets: 30 });
    const samples: [EntityName, unknown[]][] = [
      ['group', h.groups],
      ['agent', h.agents],
      ['organization', h.organizations],
      ['contact', h.contacts],
      ['ticketField', h.ticketFields],
      ['ticket', [...h.tickets(), { ...h.ticket(0), status: 'closed', sourceStatus: 'cancelled by customer', closedByInactivity: true }]],
      ['kbCategory', h.kbCategories],
      ['kbSection', h.kbSections],
      ['kbArticle', h.kbArticles],
    ];
    for (const [entity, records] of samples) {
      const type = avroType(entity);
      for (const record of records) {
        const errors: string[] = [];
        const valid = type.isValid(record, { errorHook: (path) => errors.push(path.join('.')) });
        expect(valid, `${entity}: ${errors.join(', ')}`).toBe(true);
        // A ticket without a source status name comes back with the fields' defaults, null.
        const t = record as { sourceStatus?: string | null; closedByInactivity?: boolean | null };
        const expected = entity === 'ticket' ? { ...(record as object), sourceStatus: t.sourceStatus ?? null, closedByInactivity: t.closedByInactivity ?? null } : record;
        expect(type.fromBuffer(type.toBuffer(record))).toEqual(expected);
      }
    }
  });

  it('rejects a record whose field has the wrong type', () => {
    const h = fakeHelpdesk({ seed: 3, tickets: 1 });
    expect(avroType('ticket').isValid({ ...h.ticket(0), status: 'escalated' })).toBe(false);
    expect(avroType('contact').isValid({ ...h.contacts[0], email: 42 })).toBe(false);
  });
});
