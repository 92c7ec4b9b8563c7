import { Faker, base, en, de, ja } from '@faker-js/faker';
import { createHash } from 'node:crypto';
import type {
  Agent,
  AttachmentMeta,
  Comment,
  Contact,
  CustomFieldValue,
  Group,
  KbArticle,
  KbCategory,
  KbSection,
  Organization,
  Ticket,
  TicketField,
  TicketPriority,
  TicketStatus,
  TicketType,
} from '../../schemas/canonical.ts';

/**
 * A realistic helpdesk, the same for the same seed, for sandboxes to serve.
 * IDs are small integers as strings, unique per entity; sandboxes may keep or renumber them.
 * Attachment `url` is left empty: each sandbox serves the bytes from `attachmentContent()`.
 */
export interface FakeHelpdeskOptions {
  /** Seed; the same seed gives the same helpdesk. Default 1. */
  seed?: number;
  /** Number of tickets. Default 100. */
  tickets?: number;
  /** Number of contacts. Default max(20, tickets / 2). */
  contacts?: number;
  /** Number of organizations. Default max(5, tickets / 20). */
  organizations?: number;
  /** Number of agents (some deactivated, one deleted). Default 12. */
  agents?: number;
  /** Number of KB articles, each translated into a second language. Default 20. */
  articles?: number;
  /** Largest number of comments after the description. Default 30. */
  maxComments?: number;
  /** The instant the helpdesk is seen from; all records are older. Default 2026-06-01T00:00:00Z. */
  now?: Date;
}

export interface FakeHelpdesk {
  groups: Group[];
  agents: Agent[];
  organizations: Organization[];
  contacts: Contact[];
  ticketFields: TicketField[];
  kbCategories: KbCategory[];
  kbSections: KbSection[];
  kbArticles: KbArticle[];
  ticketCount: number;
  /** The i-th ticket (0-based), generated on demand so large helpdesks need not sit in memory. */
  ticket(index: number): Ticket;
  tickets(): Generator<Ticket>;
}

const GROUP_NAMES = ['Billing', 'Technical Support', 'Sales', 'Returns', 'Escalations', 'Onboarding', 'Partners', 'VIP'];
const STATUSES: TicketStatus[] = ['new', 'open', 'open', 'pending', 'hold', 'solved', 'solved', 'closed', 'closed', 'closed'];
const PRIORITIES: (TicketPriority | null)[] = ['low', 'normal', 'normal', 'normal', 'high', 'urgent', null];
const TYPES: (TicketType | null)[] = ['question', 'question', 'incident', 'problem', 'task', null];
const TAGS = ['vip', 'refund', 'bug', 'shipping', 'login', 'invoice', 'feature_request', 'urgent_followup', 'mobile', 'api', 'größe', 'サポート'];
const UNICODE_SNIPPETS = ['Grüße aus Köln', 'Спасибо за помощь', 'ありがとうございます', '谢谢', '🙂👍', 'naïve café façade', 'مرحبا', 'Ελληνικά'];

/** A 1×1 transparent PNG. */
const PNG_PIXEL = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082',
  'hex',
);

export function fakeHelpdesk(options: FakeHelpdeskOptions = {}): FakeHelpdesk {
  const seed = options.seed ?? 1;
  const ticketCount = options.tickets ?? 100;
  const contactCount = options.contacts ?? Math.max(20, Math.floor(ticketCount / 2));
  const orgCount = options.organizations ?? Math.max(5, Math.floor(ticketCount / 20));
  const agentCount = options.agents ?? 12;
  const articleCount = options.articles ?? 20;
  const maxComments = options.maxComments ?? 30;
  const now = (options.now ?? new Date('2026-06-01T00:00:00Z')).getTime();
  const DAY = 86_400_000;

  const f = new Faker({ locale: [en, base], seed });
  const fDe = new Faker({ locale: [de, en, base], seed: seed + 1 });
  const fJa = new Faker({ locale: [ja, en, base], seed: seed + 2 });
  const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString();
  const pastMs = (faker: Faker, maxDaysAgo: number, minDaysAgo = 1) => now - faker.number.int({ min: minDaysAgo * DAY, max: maxDaysAgo * DAY });

  const groups: Group[] = [];
  for (let i = 0; i < Math.min(5, GROUP_NAMES.length); i++) {
    const created = pastMs(f, 900, 700);
    groups.push({
      sourceId: String(i + 1),
      name: GROUP_NAMES[i],
      description: f.company.catchPhrase(),
      createdAt: iso(created),
      updatedAt: iso(created + DAY),
    });
  }

  const agents: Agent[] = [];
  for (let i = 0; i < agentCount; i++) {
    const first = f.person.firstName();
    const last = f.person.lastName();
    const created = pastMs(f, 800, 600);
    const deleted = i === agentCount - 1;
    const active = !deleted && i !== agentCount - 2 && i !== agentCount - 3;
    agents.push({
      sourceId: String(1000 + i),
      name: `${first} ${last}`,
      email: `${first}.${last}.${i}@support.example.com`.toLowerCase().replace(/[^a-z0-9.@-]/g, ''),
      role: i === 0 ? 'admin' : 'agent',
      active,
      deleted,
      groupIds: f.helpers.arrayElements(groups, { min: 1, max: 2 }).map((g) => g.sourceId),
      timeZone: f.helpers.arrayElement(['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'UTC']),
      createdAt: iso(created),
      updatedAt: iso(created + 30 * DAY),
    });
  }

  const organizations: Organization[] = [];
  for (let i = 0; i < orgCount; i++) {
    const name = `${f.company.name()} ${i + 1}`;
    const created = pastMs(f, 900, 400);
    organizations.push({
      sourceId: String(5000 + i),
      name,
      domains: [`${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}.example.org`],
      notes: f.datatype.boolean() ? f.company.catchPhrase() : null,
      tags: f.helpers.arrayElements(['enterprise', 'smb', 'partner', 'trial'], { min: 0, max: 2 }),
      customFields: {},
      createdAt: iso(created),
      updatedAt: iso(created + f.number.int({ min: 0, max: 100 }) * DAY),
    });
  }

  const contacts: Contact[] = [];
  for (let i = 0; i < contactCount; i++) {
    const faker = i % 7 === 3 ? fDe : i % 11 === 5 ? fJa : f;
    const first = faker.person.firstName();
    const last = faker.person.lastName();
    const created = pastMs(f, 700, 200);
    // A few contacts have no email (phone-only), as real helpdesks do.
    const hasEmail = i % 40 !== 17;
    contacts.push({
      sourceId: String(100_000 + i),
      name: `${first} ${last}`,
      email: hasEmail ? `customer${i}.${f.string.alphanumeric(5).toLowerCase()}@mail.example.net` : null,
      phone: hasEmail && f.datatype.boolean({ probability: 0.7 }) ? null : `+1555${String(1_000_000 + i).slice(-7)}`,
      organizationId: organizations.length > 0 && f.datatype.boolean({ probability: 0.7 }) ? f.helpers.arrayElement(organizations).sourceId : null,
      tags: f.helpers.arrayElements(['newsletter', 'beta', 'churn-risk'], { min: 0, max: 1 }),
      timeZone: null,
      customFields: {},
      createdAt: iso(created),
      updatedAt: iso(created + f.number.int({ min: 0, max: 60 }) * DAY),
    });
  }

  const fieldCreated = iso(now - 1000 * DAY);
  const field = (
    n: number,
    key: string,
    title: string,
    type: TicketField['type'],
    extra: Partial<TicketField> = {},
  ): TicketField => ({
    sourceId: String(360_000 + n),
    key,
    title,
    type,
    required: false,
    active: true,
    options: [],
    pattern: null,
    createdAt: fieldCreated,
    updatedAt: fieldCreated,
    ...extra,
  });
  const ticketFields: TicketField[] = [
    field(1, 'order_number', 'Order number', 'text'),
    field(2, 'steps_to_reproduce', 'Steps to reproduce', 'textarea'),
    field(3, 'warranty', 'Under warranty', 'checkbox'),
    field(4, 'purchase_date', 'Purchase date', 'date'),
    field(5, 'seats', 'Seats', 'integer'),
    field(6, 'refund_amount', 'Refund amount', 'decimal'),
    field(7, 'product', 'Product', 'dropdown', {
      options: [
        { value: 'product_basic', label: 'Basic' },
        { value: 'product_pro', label: 'Pro' },
        { value: 'product_enterprise', label: 'Enterprise' },
      ],
    }),
    field(8, 'channels', 'Affected channels', 'multiselect', {
      options: [
        { value: 'channel_email', label: 'Email' },
        { value: 'channel_chat', label: 'Chat' },
        { value: 'channel_phone', label: 'Phone' },
      ],
    }),
    field(9, 'serial', 'Serial number', 'regex', { pattern: '^[A-Z]{2}-\\d{4}$' }),
  ];

  const fieldValue = (faker: Faker, def: TicketField): CustomFieldValue => {
    if (faker.datatype.boolean({ probability: 0.3 })) return null;
    switch (def.type) {
      case 'text':
        return `ORD-${faker.number.int({ min: 10000, max: 99999 })}`;
      case 'textarea':
        return faker.lorem.sentences(2);
      case 'checkbox':
        return faker.datatype.boolean();
      case 'date':
        return iso(pastMs(faker, 400)).slice(0, 10);
      case 'integer':
        return faker.number.int({ min: 1, max: 500 });
      case 'decimal':
        return faker.number.int({ min: 100, max: 99_999 }) / 100;
      case 'dropdown':
        return faker.helpers.arrayElement(def.options).label;
      case 'multiselect':
        return faker.helpers.arrayElements(def.options, { min: 1, max: 2 }).map((o) => o.label);
      case 'regex':
        return `${faker.string.alpha({ length: 2, casing: 'upper' })}-${faker.number.int({ min: 1000, max: 9999 })}`;
    }
  };

  const activeAgents = agents.filter((a) => a.active);

  const ticket = (index: number): Ticket => {
    if (index < 0 || index >= ticketCount) throw new RangeError(`ticket index ${index} out of range`);
    const t = new Faker({ locale: [en, base], seed: seed * 1_000_003 + index });
    const id = index + 1;
    const requester = contacts[t.number.int({ min: 0, max: contacts.length - 1 })];
    // Older tickets sometimes belong to agents who later left.
    const assignee = t.datatype.boolean({ probability: 0.85 }) ? t.helpers.arrayElement(t.datatype.boolean({ probability: 0.9 }) ? activeAgents : agents) : null;
    const created = pastMs(t, 600, 2);
    const commentCount = t.number.int({ min: 0, max: maxComments });
    const comments: Comment[] = [];
    let clock = created;
    for (let c = 0; c <= commentCount; c++) {
      const fromRequester = c === 0 || t.datatype.boolean({ probability: 0.4 });
      const isPublic = fromRequester || t.datatype.boolean({ probability: 0.75 });
      const author = fromRequester ? requester.sourceId : (assignee ?? t.helpers.arrayElement(agents)).sourceId;
      const commentId = `${id}${String(c).padStart(3, '0')}`;
      const attachments: AttachmentMeta[] = [];
      const attachmentCount = t.datatype.boolean({ probability: 0.08 }) ? t.number.int({ min: 1, max: 2 }) : 0;
      for (let a = 0; a < attachmentCount; a++) {
        const kind = t.helpers.arrayElement(['log', 'pdf', 'png'] as const);
        attachments.push(attachmentMeta(`${commentId}${a}`, kind, t));
      }
      let body = `<p>${escapeHtml(t.lorem.sentences({ min: 1, max: 4 }))}</p>`;
      if (t.datatype.boolean({ probability: 0.2 })) body += `<p>${t.helpers.arrayElement(UNICODE_SNIPPETS)}</p>`;
      if (t.datatype.boolean({ probability: 0.15 })) body += `<ul><li>${escapeHtml(t.lorem.words(3))}</li><li><strong>${escapeHtml(t.lorem.words(2))}</strong></li></ul>`;
      if (t.datatype.boolean({ probability: 0.04 })) {
        const inline = attachmentMeta(`${commentId}9`, 'png', t, true);
        attachments.push(inline);
        body += `<p><img src="inline:${inline.sourceId}" alt="${inline.fileName}"></p>`;
      }
      comments.push({ sourceId: commentId, authorId: author, body, public: isPublic, createdAt: iso(clock), attachments });
      clock += t.number.int({ min: 60_000, max: 3 * DAY });
    }
    const updated = Math.min(now - 60_000, clock);
    const tags = t.helpers.arrayElements(TAGS, { min: 0, max: 3 });
    const customFields: Record<string, CustomFieldValue> = {};
    for (const def of ticketFields) customFields[def.key] = fieldValue(t, def);
    const subjectExtra = t.datatype.boolean({ probability: 0.1 }) ? ` — ${t.helpers.arrayElement(UNICODE_SNIPPETS)}` : '';
    return {
      sourceId: String(id),
      subject: `${t.hacker.phrase().replace(/[.!]$/, '')}${subjectExtra}`.slice(0, 200),
      status: t.helpers.arrayElement(STATUSES),
      priority: t.helpers.arrayElement(PRIORITIES),
      type: t.helpers.arrayElement(TYPES),
      requesterId: requester.sourceId,
      assigneeId: assignee?.sourceId ?? null,
      groupId: assignee ? assignee.groupIds[0] : t.datatype.boolean() ? t.helpers.arrayElement(groups).sourceId : null,
      organizationId: requester.organizationId,
      tags,
      customFields,
      createdAt: iso(created),
      updatedAt: iso(updated),
      comments,
    };
  };

  const kbCategories: KbCategory[] = ['Getting started', 'Billing & accounts'].map((name, i) => {
    const created = pastMs(f, 900, 800);
    return {
      sourceId: String(200 + i),
      name,
      description: f.company.catchPhrase(),
      locale: 'en-us',
      position: i,
      createdAt: iso(created),
      updatedAt: iso(created),
    };
  });
  const kbSections: KbSection[] = [];
  kbCategories.forEach((category, ci) => {
    for (let s = 0; s < 2; s++) {
      const created = pastMs(f, 700, 600);
      kbSections.push({
        sourceId: String(300 + ci * 10 + s),
        categoryId: category.sourceId,
        name: `${f.commerce.department()} ${s + 1}`,
        description: null,
        locale: 'en-us',
        position: s,
        createdAt: iso(created),
        updatedAt: iso(created),
      });
    }
  });
  const kbArticles: KbArticle[] = [];
  for (let i = 0; i < articleCount; i++) {
    const created = pastMs(f, 500, 30);
    const updated = created + f.number.int({ min: 0, max: 20 }) * DAY;
    const title = `How to ${f.hacker.verb()} the ${f.hacker.noun()} (${i + 1})`;
    kbArticles.push({
      sourceId: String(400 + i),
      sectionId: kbSections[i % kbSections.length].sourceId,
      authorId: activeAgents[i % activeAgents.length].sourceId,
      locale: 'en-us',
      title,
      body: `<h2>${escapeHtml(title)}</h2><p>${escapeHtml(f.lorem.paragraph())}</p><ol><li>${escapeHtml(f.lorem.sentence())}</li><li>${escapeHtml(f.lorem.sentence())}</li></ol>`,
      draft: i % 9 === 8,
      tags: f.helpers.arrayElements(['howto', 'billing', 'setup', 'faq'], { min: 0, max: 2 }),
      position: i,
      createdAt: iso(created),
      updatedAt: iso(updated),
      translations: [
        {
          locale: 'de',
          title: `Anleitung: ${fDe.hacker.verb()} ${fDe.hacker.noun()} (${i + 1})`,
          body: `<p>${escapeHtml(fDe.lorem.paragraph())} Größe, Übersicht, Straße.</p>`,
          draft: false,
          updatedAt: iso(updated),
        },
      ],
    });
  }

  return {
    groups,
    agents,
    organizations,
    contacts,
    ticketFields,
    kbCategories,
    kbSections,
    kbArticles,
    ticketCount,
    ticket,
    *tickets() {
      for (let i = 0; i < ticketCount; i++) yield ticket(i);
    },
  };
}

function attachmentMeta(sourceId: string, kind: 'log' | 'pdf' | 'png', t: Faker, inline = false): AttachmentMeta {
  const name = kind === 'png' ? `screenshot-${sourceId}.png` : kind === 'pdf' ? `invoice ${sourceId} (Überweisung).pdf` : `debug-${sourceId}.log`;
  const contentType = kind === 'png' ? 'image/png' : kind === 'pdf' ? 'application/pdf' : 'text/plain';
  const size = kind === 'png' ? PNG_PIXEL.length : t.number.int({ min: 200, max: 4000 });
  return { sourceId, fileName: name, contentType, size, url: '', inline };
}

/** The bytes of a generated attachment: deterministic from its metadata, exactly `size` long. */
export function attachmentContent(meta: Pick<AttachmentMeta, 'sourceId' | 'contentType' | 'size'>): Uint8Array {
  if (meta.contentType === 'image/png' && meta.size === PNG_PIXEL.length) return new Uint8Array(PNG_PIXEL);
  const out = Buffer.alloc(meta.size);
  let block = createHash('sha256').update(meta.sourceId).digest();
  for (let offset = 0; offset < meta.size; offset += block.length) {
    block.copy(out, offset, 0, Math.min(block.length, meta.size - offset));
    block = createHash('sha256').update(block).digest();
  }
  if (meta.contentType === 'text/plain') for (let i = 0; i < out.length; i++) out[i] = 32 + (out[i] % 95);
  return new Uint8Array(out);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
