import { describe, expect, it } from 'vitest';
import {
  FieldCatalog,
  fieldKey,
  toCanonicalAgent,
  toCanonicalArticle,
  toCanonicalComment,
  toCanonicalTicket,
  toCanonicalTicketField,
  toZendeskTicketField,
  unwrapCommentHtml,
  zdTime,
} from '../../../../connectors/zendesk/zendesk.mapping.ts';
import type { ZdArticle, ZdTicket, ZdTicketField, ZdUser } from '../../../../connectors/zendesk/zendesk.types.ts';

const at = '2025-03-04T05:06:07Z';
const field = (id: number, type: ZdTicketField['type'], title: string, extra: Partial<ZdTicketField> = {}): ZdTicketField => ({
  id,
  type,
  title,
  description: '',
  position: id,
  active: true,
  required: false,
  removable: true,
  regexp_for_validation: null,
  created_at: at,
  updated_at: at,
  ...extra,
});
const FIELDS = [
  field(1, 'subject', 'Subject', { removable: false }),
  field(2, 'tagger', 'Product', { custom_field_options: [{ name: 'Pro plan', value: 'product_pro' }, { name: 'Basic', value: 'product_basic' }] }),
  field(3, 'multiselect', 'Affected channels', { custom_field_options: [{ name: 'Email', value: 'ch_email' }, { name: 'Chat', value: 'ch_chat' }] }),
  field(4, 'integer', 'Seats'),
  field(5, 'decimal', 'Refund amount'),
  field(6, 'checkbox', 'Under warranty', { tag: 'warranty_yes' }),
  field(7, 'date', 'Purchase date'),
  field(8, 'regexp', 'Serial number', { regexp_for_validation: '^[A-Z]{2}$' }),
];

describe('zendesk mapping', () => {
  it('derives canonical field keys from titles', () => {
    expect(fieldKey('Order number')).toBe('order_number');
    expect(fieldKey('  Größe / Übersicht ')).toBe('grosse_ubersicht');
    expect(fieldKey('Refund amount (€)')).toBe('refund_amount');
  });

  it('translates custom field values both ways, dropdowns as labels', () => {
    const catalog = new FieldCatalog(FIELDS);
    expect([...catalog.byKey.keys()]).toEqual(['product', 'affected_channels', 'seats', 'refund_amount', 'under_warranty', 'purchase_date', 'serial_number']);
    const zd = [
      { id: 2, value: 'product_pro' },
      { id: 3, value: ['ch_chat', 'ch_email'] },
      { id: 4, value: '12' },
      { id: 5, value: '7.25' },
      { id: 6, value: true },
      { id: 7, value: '2025-01-02' },
      { id: 8, value: null },
    ];
    const canonical = catalog.toCanonical(zd);
    expect(canonical).toEqual({
      product: 'Pro plan',
      affected_channels: ['Chat', 'Email'],
      seats: 12,
      refund_amount: 7.25,
      under_warranty: true,
      purchase_date: '2025-01-02',
      serial_number: null,
    });
    const back = catalog.toZendesk(canonical);
    expect(back.unknown).toEqual([]);
    expect(back.custom_fields).toEqual([
      { id: 2, value: 'product_pro' },
      { id: 3, value: ['ch_chat', 'ch_email'] },
      { id: 4, value: 12 },
      { id: 5, value: 7.25 },
      { id: 6, value: true },
      { id: 7, value: '2025-01-02' },
      { id: 8, value: null },
    ]);
    expect(catalog.toZendesk({ nope: 'x', empty: null }).unknown).toEqual(['nope']);
    expect([...catalog.impliedTags(zd)].sort()).toEqual(['ch_chat', 'ch_email', 'product_pro', 'warranty_yes']);
  });

  it('strips the tags Zendesk adds for field values and unwraps comment HTML', () => {
    const ticket: ZdTicket = {
      id: 9,
      external_id: 'freshdesk:3',
      subject: 'Hi',
      status: 'hold',
      priority: null,
      type: 'task',
      requester_id: 5,
      submitter_id: 5,
      assignee_id: null,
      group_id: 2,
      organization_id: null,
      tags: ['vip', 'product_pro'],
      custom_fields: [{ id: 2, value: 'product_pro' }],
      created_at: at,
      updated_at: at,
    };
    const comment = {
      id: 77,
      type: 'Comment' as const,
      author_id: 5,
      body: 'x',
      html_body: '<div class="zd-comment" dir="auto"><p>x</p></div>',
      plain_body: 'x',
      public: false,
      attachments: [{ id: 1, file_name: 'a.png', content_url: 'http://h/a', content_type: 'image/png', size: 3, inline: true }],
      created_at: at,
    };
    const t = toCanonicalTicket(ticket, [comment], new FieldCatalog(FIELDS));
    expect(t).toMatchObject({ sourceId: '9', status: 'hold', tags: ['vip'], groupId: '2', createdAt: '2025-03-04T05:06:07.000Z' });
    expect(t.customFields.product).toBe('Pro plan');
    expect(toCanonicalComment(comment)).toEqual({
      sourceId: '77',
      authorId: '5',
      body: '<p>x</p>',
      public: false,
      createdAt: '2025-03-04T05:06:07.000Z',
      attachments: [{ sourceId: '1', fileName: 'a.png', contentType: 'image/png', size: 3, url: 'http://h/a', inline: true }],
    });
    expect(unwrapCommentHtml('<p>plain</p>')).toBe('<p>plain</p>');
    expect(zdTime('2025-03-04T05:06:07.000Z')).toBe(at);
  });

  it('maps users: deleted users are inactive stubs, suspended ones deactivated, light agents by role type', () => {
    const user = (extra: Partial<ZdUser>): ZdUser => ({
      id: 1,
      name: 'A',
      email: 'a@x.io',
      phone: null,
      role: 'agent',
      role_type: null,
      active: true,
      suspended: false,
      organization_id: null,
      external_id: null,
      tags: [],
      time_zone: 'Berlin',
      iana_time_zone: 'Europe/Berlin',
      user_fields: {},
      created_at: at,
      updated_at: at,
      ...extra,
    });
    expect(toCanonicalAgent(user({}), [3])).toMatchObject({ active: true, deleted: false, role: 'agent', groupIds: ['3'], timeZone: 'Europe/Berlin' });
    expect(toCanonicalAgent(user({ active: false }), [])).toMatchObject({ active: false, deleted: true });
    expect(toCanonicalAgent(user({ suspended: true }), [])).toMatchObject({ active: false, deleted: false });
    expect(toCanonicalAgent(user({ role_type: 1 }), [])).toMatchObject({ role: 'light' });
    expect(toCanonicalAgent(user({ role: 'admin', role_type: 4 }), [])).toMatchObject({ role: 'admin' });
  });

  it('maps ticket field definitions both ways (tagger ↔ dropdown, regexp ↔ regex)', () => {
    expect(toCanonicalTicketField(FIELDS[0])).toBeNull();
    expect(toCanonicalTicketField(FIELDS[1])).toMatchObject({ key: 'product', type: 'dropdown', options: [{ value: 'product_pro', label: 'Pro plan' }, { value: 'product_basic', label: 'Basic' }] });
    expect(toCanonicalTicketField(FIELDS[7])).toMatchObject({ type: 'regex', pattern: '^[A-Z]{2}$' });
    const back = toZendeskTicketField(toCanonicalTicketField(FIELDS[1])!);
    expect(back).toMatchObject({ type: 'tagger', title: 'Product', custom_field_options: [{ name: 'Pro plan', value: 'product_pro' }, { name: 'Basic', value: 'product_basic' }] });
    const labelsOnly = toZendeskTicketField({ ...toCanonicalTicketField(FIELDS[1])!, options: [{ value: 'Gold Tier', label: 'Gold Tier' }, { value: 'gold tier', label: 'Gold' }] });
    expect(labelsOnly.custom_field_options).toEqual([{ name: 'Gold Tier', value: 'gold_tier' }, { name: 'Gold', value: 'gold_tier_' }]);
  });

  it('takes an article’s own text from its source-locale translation and the rest as translations', () => {
    const article: ZdArticle = {
      id: 4,
      section_id: 2,
      author_id: 9,
      title: 'stale',
      body: 'stale',
      locale: 'en-us',
      source_locale: 'en-us',
      draft: false,
      promoted: false,
      position: 1,
      label_names: ['faq'],
      permission_group_id: 1,
      user_segment_id: null,
      outdated: false,
      comments_disabled: false,
      created_at: at,
      updated_at: at,
      edited_at: at,
    };
    const tr = (locale: string, title: string, draft = false) => ({
      id: 1,
      source_id: 4,
      source_type: 'Article' as const,
      locale,
      title,
      body: `<p>${title}</p>`,
      draft,
      outdated: false,
      hidden: false,
      created_at: at,
      updated_at: at,
    });
    expect(toCanonicalArticle(article, [tr('de', 'Hallo', true), tr('en-us', 'Hello')])).toMatchObject({
      title: 'Hello',
      body: '<p>Hello</p>',
      tags: ['faq'],
      translations: [{ locale: 'de', title: 'Hallo', draft: true }],
    });
  });
});
