import { describe, expect, it } from 'vitest';
import {
  allowEmpty,
  canonicalFieldType,
  fieldMeta,
  originalPattern,
  plainToHtml,
  priorityFromRt,
  priorityToRt,
  rtFieldType,
  rtTime,
  slugKey,
  sqlString,
  sqlTime,
  STATUS_TO_RT,
  statusFromRt,
  ticketFieldFromRt,
  typeFromRt,
  valueFromRt,
  valueToRt,
  type RtCustomField,
} from '../../../../connectors/rt/rt.mapping.ts';
import { TICKET_FIELD_TYPES, TICKET_PRIORITIES, TICKET_STATUSES } from '../../../../schemas/canonical.ts';

const EPOCH = '1970-01-01T00:00:00.000Z';

describe('rt mapping: statuses, priorities, types', () => {
  it('reads the default lifecycle, and custom statuses by whether their lifecycle counts them done', () => {
    expect(['new', 'open', 'stalled', 'resolved', 'rejected'].map((s) => statusFromRt(s))).toEqual(['new', 'open', 'pending', 'solved', 'closed']);
    expect(statusFromRt('cancelled by customer', true)).toBe('closed');
    expect(statusFromRt('waiting on vendor', false)).toBe('open');
    // A name that is a property of every object is still just a custom status.
    expect(statusFromRt('constructor')).toBe('open');
  });

  it('writes every canonical status as one RT has, hold and closed to their nearest', () => {
    expect(TICKET_STATUSES.map((s) => STATUS_TO_RT[s])).toEqual(['new', 'open', 'stalled', 'stalled', 'resolved', 'resolved']);
  });

  it('reads priorities by band, 0 and nonsense as none, and round-trips each canonical one', () => {
    expect([0, '0', null, undefined, 'abc', -5].map(priorityFromRt)).toEqual([null, null, null, null, null, null]);
    expect([1, 34, 35, 64, 65, 89, 90, 150, '50'].map(priorityFromRt)).toEqual(['low', 'low', 'normal', 'normal', 'high', 'high', 'urgent', 'urgent', 'normal']);
    expect(TICKET_PRIORITIES.map(priorityToRt)).toEqual([20, 50, 80, 100]);
    expect(priorityToRt(null)).toBe(0);
    for (const p of TICKET_PRIORITIES) expect(priorityFromRt(priorityToRt(p))).toBe(p);
  });

  it('reads the ticket type from its field, ignoring values that are no canonical type', () => {
    expect(typeFromRt(['Incident'])).toBe('incident');
    expect(typeFromRt(['Feature', 'task'])).toBeNull();
    expect(typeFromRt([])).toBeNull();
    expect(typeFromRt(undefined)).toBeNull();
  });
});

describe('rt mapping: custom fields', () => {
  it('derives keys from names', () => {
    expect(slugKey('Refund amount (€)')).toBe('refund_amount');
    expect(slugKey('Ünïcödé Field')).toBe('unicode_field');
    expect(slugKey('!!!')).toBe('field');
  });

  it('reads back every canonical type from the note the writer leaves, and the nearest one without it', () => {
    const written = (type: (typeof TICKET_FIELD_TYPES)[number], note: boolean): RtCustomField => {
      const rt = rtFieldType(type);
      return { id: 1, Name: type, Type: rt.Type, MaxValues: rt.MaxValues, Pattern: rt.Pattern, ...(note ? { Description: `About it. ${fieldMeta('k', type)}` } : {}) };
    };
    expect(TICKET_FIELD_TYPES.map((t) => canonicalFieldType(written(t, true)))).toEqual([...TICKET_FIELD_TYPES]);
    // Without the note RT's own type is all there is: checkboxes read as dropdowns, validated numbers as regex fields.
    expect(TICKET_FIELD_TYPES.map((t) => canonicalFieldType(written(t, false)))).toEqual(['text', 'textarea', 'dropdown', 'date', 'regex', 'regex', 'dropdown', 'multiselect', 'text']);
    const cf = (Type: string, MaxValues: number) => canonicalFieldType({ id: 1, Name: 'x', Type, MaxValues });
    expect([cf('Wikitext', 1), cf('Autocomplete', 0), cf('Combobox', 0), cf('DateTime', 1), cf('Binary', 1), cf('IPAddressRange', 1)]).toEqual(['textarea', 'multiselect', 'dropdown', 'text', null, null]);
  });

  it('keeps a pattern that accepts the empty value, and gives the original back', () => {
    expect(allowEmpty('^[A-Z]{2}$')).toBe('^$|(?:^[A-Z]{2}$)');
    expect(allowEmpty('')).toBe('');
    expect(originalPattern(allowEmpty('^[A-Z]{2}$'))).toBe('^[A-Z]{2}$');
    expect(originalPattern('^own$')).toBe('^own$');
    expect(originalPattern(undefined)).toBeNull();
  });

  it('reads field definitions as REST2 returns them', () => {
    expect(
      ticketFieldFromRt({ id: 3, Name: 'Serial Number', Type: 'Freeform', MaxValues: 1, Pattern: '^$|(?:^[A-Z]{2}\\d+$)', Disabled: '0', Created: '2026-01-02T03:04:05Z' }),
    ).toEqual({
      sourceId: '3',
      key: 'serial_number',
      title: 'Serial Number',
      type: 'regex',
      required: false,
      active: true,
      options: [],
      pattern: '^[A-Z]{2}\\d+$',
      createdAt: '2026-01-02T03:04:05.000Z',
      updatedAt: '2026-01-02T03:04:05.000Z',
    });
    expect(
      ticketFieldFromRt({ id: '4', Name: 'Product', Type: 'Select', MaxValues: '1', Description: 'Which product. hdm:key=product_line;type=dropdown', Disabled: 1, Values: ['Pro', 'Basic'] }),
    ).toEqual({
      sourceId: '4',
      key: 'product_line',
      title: 'Product',
      type: 'dropdown',
      required: false,
      active: false,
      options: [{ value: 'Pro', label: 'Pro' }, { value: 'Basic', label: 'Basic' }],
      pattern: null,
      createdAt: EPOCH,
      updatedAt: EPOCH,
    });
    expect(ticketFieldFromRt({ id: 5, Name: 'Scan', Type: 'Binary', MaxValues: 1 })).toBeNull();
  });

  it('reads values (always strings in RT) as the canonical type, cleared and epoch values as none', () => {
    expect(valueFromRt('text', [])).toBeNull();
    expect(valueFromRt('text', [''])).toBeNull();
    expect(valueFromRt('date', ['1970-01-01 00:00:00'])).toBeNull();
    expect(valueFromRt('date', ['2026-05-06 00:00:00'])).toBe('2026-05-06');
    expect(valueFromRt('multiselect', ['Email', '', 'Chat'])).toEqual(['Email', 'Chat']);
    expect(['true', '1', 'Yes', 'false', 'no'].map((v) => valueFromRt('checkbox', [v]))).toEqual([true, true, true, false, false]);
    expect(valueFromRt('integer', ['42'])).toBe(42);
    expect(valueFromRt('integer', ['many'])).toBe('many');
    expect(valueFromRt('decimal', ['7.25'])).toBe(7.25);
    expect(valueFromRt('decimal', ['n/a'])).toBe('n/a');
    expect(valueFromRt('dropdown', ['Pro', 'Basic'])).toBe('Pro');
  });

  it('writes values as REST2 takes them', () => {
    expect([null, ['Email', 'Chat'], true, false, 12, 7.25, 'x'].map(valueToRt)).toEqual([null, ['Email', 'Chat'], 'true', 'false', '12', '7.25', 'x']);
  });
});

describe('rt mapping: times, TicketSQL and bodies', () => {
  it('reads REST2 times to the second, its unset and unreadable ones as the epoch', () => {
    expect(rtTime('2026-01-02T03:04:05Z')).toBe('2026-01-02T03:04:05.000Z');
    expect(rtTime('2026-01-02T03:04:05.678Z')).toBe('2026-01-02T03:04:05.000Z');
    expect([undefined, null, '', '1970-01-01T00:00:00Z', 'Not set'].map(rtTime)).toEqual([EPOCH, EPOCH, EPOCH, EPOCH, EPOCH]);
    expect(sqlTime('2026-01-02T03:04:05.678Z')).toBe('2026-01-02 03:04:05');
  });

  it('quotes TicketSQL strings so a quote or backslash cannot end them', () => {
    expect(sqlString("O'Brien \\ co")).toBe("'O\\'Brien \\\\ co'");
  });

  it('turns a plain-text body into escaped HTML, keeping its line breaks', () => {
    expect(plainToHtml('Hello <you> & "them"\r\nline two\n\n  ')).toBe('<p>Hello &lt;you&gt; &amp; &quot;them&quot;<br>line two</p>');
    expect(plainToHtml('  \n')).toBe('');
  });
});
