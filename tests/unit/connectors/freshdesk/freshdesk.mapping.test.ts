import { describe, expect, it } from 'vitest';
import {
  agentFromFd,
  agentToFd,
  articleFromFd,
  articleToFd,
  companyFromFd,
  companyToFd,
  contactFromFd,
  contactToFd,
  fieldIndex,
  localeFromFd,
  localeToFd,
  ticketFieldFromFd,
  ticketFromFd,
  ticketStamp,
  ticketToFd,
} from '../../../../connectors/freshdesk/freshdesk.mapping.ts';
import type { FdAgent, FdArticle, FdConversation, FdRole, FdTicket, FdTicketField } from '../../../../connectors/freshdesk/freshdesk.types.ts';

const at = '2025-03-04T05:06:07Z';
const iso = '2025-03-04T05:06:07.000Z';

const field = (id: number, name: string, type: FdTicketField['type'], extra: Partial<FdTicketField> = {}): FdTicketField => ({
  id,
  name,
  label: name.replace(/^cf_/, ''),
  position: id,
  type,
  default: false,
  required_for_closure: false,
  required_for_agents: false,
  required_for_customers: false,
  created_at: at,
  updated_at: at,
  ...extra,
});

// As /api/v2/ticket_fields lists them, the connector's own fields (stamp, multi-select values) included.
const FIELDS: FdTicketField[] = [
  field(1, 'subject', 'default_subject', { default: true, label: 'Subject' }),
  field(10, 'cf_product', 'custom_dropdown', { label: 'Product', required_for_agents: true, choices: ['Pro plan', 'Basic'] }),
  field(11, 'cf_channels_hdm_multiselect', 'custom_dropdown', { label: 'Channels', choices: [{ value: 'Email' }, { value: 'Chat' }] }),
  field(12, 'cf_channels_hdm_multivalues', 'custom_paragraph'),
  field(13, 'cf_serial_hdm_regex', 'custom_text', { label: 'Serial' }),
  field(14, 'cf_seats', 'custom_number'),
  field(15, 'cf_refund', 'custom_decimal'),
  field(16, 'cf_warranty', 'custom_checkbox'),
  field(17, 'cf_purchase_date', 'custom_date'),
  field(18, 'cf_hdm_source_id', 'custom_text'),
];

const attachment = { id: 100, name: 'fire.jpg', content_type: 'image/jpeg', size: 2048, attachment_url: 'https://files.example/100', created_at: at, updated_at: at };

const TICKET: FdTicket = {
  id: 42,
  subject: 'Printer on fire',
  description: '<div>It burns</div>',
  status: 4,
  priority: 3,
  type: 'Incident',
  source: 1,
  requester_id: 7,
  responder_id: 8,
  group_id: 9,
  company_id: null,
  tags: ['hot'],
  custom_fields: {
    cf_product: 'Pro plan',
    cf_channels_hdm_multiselect: 'Email',
    cf_channels_hdm_multivalues: 'Email\nChat\n',
    cf_serial_hdm_regex: 'AB',
    cf_seats: '12',
    cf_refund: 7.25,
    cf_warranty: 'true',
    cf_purchase_date: '2025-01-02T00:00:00Z',
    cf_hdm_source_id: 'zendesk:5',
    cf_legacy: 3,
  },
  attachments: [attachment],
  created_at: at,
  updated_at: '2025-03-05T00:00:00Z',
};

const conversation = (id: number, body: string, isPrivate: boolean, created: string): FdConversation => ({
  id,
  body,
  incoming: false,
  private: isPrivate,
  user_id: 8,
  source: isPrivate ? 2 : 0,
  ticket_id: 42,
  attachments: [],
  created_at: created,
  updated_at: created,
});

describe('freshdesk mapping: ticket fields', () => {
  it('reads custom fields with their canonical key and type, leaving out defaults and the connector\'s own', () => {
    expect(FIELDS.map(ticketFieldFromFd)).toEqual([
      null,
      { sourceId: '10', key: 'product', title: 'Product', type: 'dropdown', required: true, active: true, options: [{ value: 'Pro plan', label: 'Pro plan' }, { value: 'Basic', label: 'Basic' }], pattern: null, createdAt: iso, updatedAt: iso },
      { sourceId: '11', key: 'channels', title: 'Channels', type: 'multiselect', required: false, active: true, options: [{ value: 'Email', label: 'Email' }, { value: 'Chat', label: 'Chat' }], pattern: null, createdAt: iso, updatedAt: iso },
      null,
      // Freshdesk keeps no pattern: the regex field comes back with its type, without the pattern.
      { sourceId: '13', key: 'serial', title: 'Serial', type: 'regex', required: false, active: true, options: [], pattern: null, createdAt: iso, updatedAt: iso },
      { sourceId: '14', key: 'seats', title: 'seats', type: 'integer', required: false, active: true, options: [], pattern: null, createdAt: iso, updatedAt: iso },
      { sourceId: '15', key: 'refund', title: 'refund', type: 'decimal', required: false, active: true, options: [], pattern: null, createdAt: iso, updatedAt: iso },
      { sourceId: '16', key: 'warranty', title: 'warranty', type: 'checkbox', required: false, active: true, options: [], pattern: null, createdAt: iso, updatedAt: iso },
      { sourceId: '17', key: 'purchase_date', title: 'purchase_date', type: 'date', required: false, active: true, options: [], pattern: null, createdAt: iso, updatedAt: iso },
      null,
    ]);
  });

  it('indexes where each canonical key lives on a ticket, a multi-select in its values field', () => {
    expect(Object.fromEntries(fieldIndex(FIELDS))).toEqual({
      product: { name: 'cf_product', type: 'dropdown' },
      channels: { name: 'cf_channels_hdm_multivalues', type: 'multiselect' },
      serial: { name: 'cf_serial_hdm_regex', type: 'regex' },
      seats: { name: 'cf_seats', type: 'integer' },
      refund: { name: 'cf_refund', type: 'decimal' },
      warranty: { name: 'cf_warranty', type: 'checkbox' },
      purchase_date: { name: 'cf_purchase_date', type: 'date' },
    });
  });
});

describe('freshdesk mapping: tickets', () => {
  const index = fieldIndex(FIELDS);
  const conversations = [
    conversation(202, '<p>Note</p>', true, '2025-03-04T07:00:00Z'),
    conversation(201, '<p>Reply</p>', false, '2025-03-04T06:00:00Z'),
    conversation(200, '<p>Same second, lower id</p>', false, '2025-03-04T07:00:00Z'),
  ];
  const canonical = ticketFromFd(TICKET, conversations, index);

  it('reads a ticket aggregate: the description as comment 0, conversations in time then id order', () => {
    expect(canonical).toEqual({
      sourceId: '42',
      subject: 'Printer on fire',
      status: 'solved',
      priority: 'high',
      type: 'incident',
      requesterId: '7',
      assigneeId: '8',
      groupId: '9',
      organizationId: null,
      tags: ['hot'],
      customFields: {
        product: 'Pro plan',
        channels: ['Email', 'Chat'],
        serial: 'AB',
        seats: 12,
        refund: 7.25,
        warranty: true,
        purchase_date: '2025-01-02',
        // A field the index does not know keeps its name without cf_, its value as text.
        legacy: '3',
      },
      createdAt: iso,
      updatedAt: '2025-03-05T00:00:00.000Z',
      comments: [
        {
          sourceId: 'desc-42',
          authorId: '7',
          body: '<div>It burns</div>',
          public: true,
          createdAt: iso,
          attachments: [{ sourceId: '100', fileName: 'fire.jpg', contentType: 'image/jpeg', size: 2048, url: 'https://files.example/100', inline: false }],
        },
        { sourceId: '201', authorId: '8', body: '<p>Reply</p>', public: true, createdAt: '2025-03-04T06:00:00.000Z', attachments: [] },
        { sourceId: '200', authorId: '8', body: '<p>Same second, lower id</p>', public: true, createdAt: '2025-03-04T07:00:00.000Z', attachments: [] },
        { sourceId: '202', authorId: '8', body: '<p>Note</p>', public: false, createdAt: '2025-03-04T07:00:00.000Z', attachments: [] },
      ],
    });
    expect(ticketStamp(TICKET)).toBe('zendesk:5');
  });

  it('writes a ticket body with the stamp, and names the fields the target lacks', () => {
    expect(ticketToFd(canonical, index, 'zendesk:42')).toEqual({
      body: {
        subject: 'Printer on fire',
        description: '<div>It burns</div>',
        status: 4,
        priority: 3,
        type: 'Incident',
        requester_id: 7,
        responder_id: 8,
        group_id: 9,
        company_id: null,
        tags: ['hot'],
        custom_fields: {
          cf_product: 'Pro plan',
          cf_channels_hdm_multivalues: 'Email\nChat',
          cf_serial_hdm_regex: 'AB',
          cf_seats: 12,
          cf_refund: 7.25,
          cf_warranty: true,
          cf_purchase_date: '2025-01-02',
          cf_hdm_source_id: 'zendesk:42',
        },
      },
      unknownFields: ['legacy'],
    });
  });

  it('fills what Freshdesk requires and maps statuses it lacks to the nearest', () => {
    const bare = ticketFromFd({ ...TICKET, subject: null, description: undefined, status: 6, priority: 0, type: 'Feature Request', custom_fields: {}, attachments: undefined }, [], index);
    expect(bare).toMatchObject({ subject: '', status: 'open', priority: null, type: null, customFields: {} });
    expect(bare.comments).toEqual([{ sourceId: 'desc-42', authorId: '7', body: '', public: true, createdAt: iso, attachments: [] }]);
    const written = ticketToFd({ ...bare, status: 'hold', priority: null, type: 'task', customFields: { channels: null } }, index, null).body;
    expect(written).toMatchObject({ subject: '', description: '<p></p>', status: 3, priority: 1, type: 'Task', custom_fields: { cf_channels_hdm_multivalues: null } });
    expect(ticketToFd({ ...bare, status: 'new' }, index, null).body.status).toBe(2);
  });
});

describe('freshdesk mapping: people, companies, knowledge base', () => {
  const roles: FdRole[] = [
    { id: 1, name: 'Account Administrator', default: true },
    { id: 2, name: 'Administrator', default: true },
    { id: 3, name: 'Agent', default: true },
    { id: 4, name: 'Supervisor', default: true },
  ];
  const agent = (id: number, type: string, roleIds: number[]): FdAgent => ({
    id,
    occasional: false,
    ticket_scope: 1,
    type,
    group_ids: [9],
    role_ids: roleIds,
    contact: { name: `Agent ${id}`, email: `agent${id}@example.test`, active: true, time_zone: 'Berlin', created_at: at, updated_at: at },
    created_at: at,
    updated_at: '2025-03-06T00:00:00Z',
  });

  it('reads agents with a role from their role names, and writes them back with Freshdesk\'s role IDs', () => {
    const roleMap = new Map(roles.map((r) => [r.id, r]));
    const admin = agentFromFd(agent(8, 'support_agent', [2]), roleMap);
    expect(admin).toEqual({
      sourceId: '8',
      name: 'Agent 8',
      email: 'agent8@example.test',
      role: 'admin',
      active: true,
      deleted: false,
      groupIds: ['9'],
      timeZone: 'Berlin',
      createdAt: iso,
      updatedAt: '2025-03-06T00:00:00.000Z',
    });
    expect(agentFromFd(agent(9, 'support_agent', [4]), roleMap).role).toBe('agent');
    expect(agentFromFd(agent(10, 'collaborator', [2]), roleMap).role).toBe('light');
    expect(agentToFd(admin, roles)).toEqual({ name: 'Agent 8', email: 'agent8@example.test', ticket_scope: 1, occasional: false, agent_type: 1, role_ids: [2], group_ids: [9] });
    expect(agentToFd({ ...admin, role: 'light' }, roles)).toMatchObject({ agent_type: 3, role_ids: [3] });
  });

  it('reads and writes contacts (mobile when there is no phone, the stamp as unique_external_id) and companies', () => {
    const contact = contactFromFd({
      id: 7,
      name: 'Ann',
      email: null,
      phone: null,
      mobile: '+1 555 0100',
      company_id: 3,
      tags: ['vip'],
      time_zone: null,
      unique_external_id: null,
      custom_fields: { tier: 'gold' },
      created_at: at,
      updated_at: at,
    });
    expect(contact).toEqual({ sourceId: '7', name: 'Ann', email: null, phone: '+1 555 0100', organizationId: '3', tags: ['vip'], timeZone: null, customFields: { tier: 'gold' }, createdAt: iso, updatedAt: iso });
    expect(contactToFd(contact, 'zendesk:7')).toEqual({ name: 'Ann', email: null, phone: '+1 555 0100', company_id: 3, tags: ['vip'], custom_fields: { tier: 'gold' }, unique_external_id: 'zendesk:7' });

    const company = companyFromFd({ id: 3, name: 'Acme', description: 'Rockets', note: null, domains: ['acme.test'], custom_fields: {}, created_at: at, updated_at: at });
    expect(company).toEqual({ sourceId: '3', name: 'Acme', domains: ['acme.test'], notes: null, tags: [], customFields: {}, createdAt: iso, updatedAt: iso });
    expect(companyToFd(company)).toEqual({ name: 'Acme', domains: ['acme.test'], note: null });
  });

  it('translates language codes both ways', () => {
    expect(['en', 'ja-JP', 'es-LA', 'pt-BR', 'de'].map(localeFromFd)).toEqual(['en-us', 'ja', 'es-419', 'pt-br', 'de']);
    expect(localeToFd('en-us')).toBe('en');
    expect(localeToFd('pt-br', ['pt-BR', 'de'])).toBe('pt-BR');
    expect(localeToFd('de-at', ['pt-BR', 'de'])).toBe('de');
    expect(localeToFd('fr-ca')).toBe('fr-CA');
  });

  it('reads an article with its translations, drafts by status, and writes one back', () => {
    const article = (over: Partial<FdArticle>): FdArticle => ({
      id: 500,
      type: 1,
      category_id: 50,
      folder_id: 60,
      title: 'Reset the printer',
      description: '<p>Hold the button.</p>',
      status: 2,
      agent_id: 8,
      tags: ['howto'],
      created_at: at,
      updated_at: at,
      ...over,
    });
    const read = articleFromFd(article({}), 'en-us', 3, [{ language: 'ja-JP', article: article({ title: 'リセット', description: '', status: 1, updated_at: '2025-03-07T00:00:00Z' }) }]);
    expect(read).toEqual({
      sourceId: '500',
      sectionId: '60',
      authorId: '8',
      locale: 'en-us',
      title: 'Reset the printer',
      body: '<p>Hold the button.</p>',
      draft: false,
      tags: ['howto'],
      position: 3,
      createdAt: iso,
      updatedAt: iso,
      translations: [{ locale: 'ja', title: 'リセット', body: '', draft: true, updatedAt: '2025-03-07T00:00:00.000Z' }],
    });
    expect(articleToFd(read)).toEqual({ title: 'Reset the printer', description: '<p>Hold the button.</p>', status: 2, tags: ['howto'] });
    expect(articleToFd({ title: 'Empty', body: '', draft: true, tags: [] })).toEqual({ title: 'Empty', description: '<p></p>', status: 1, tags: [] });
  });
});
