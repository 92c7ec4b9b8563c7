/**
 * The account settings a migration reads besides tickets and people, as the Freshdesk API v2 reference
 * shows them: contact and company fields, ticket forms, products, email configs, business hours,
 * canned responses. A fresh sandbox account has the defaults a new Freshdesk account has.
 */
const AT = '2020-01-01T00:00:00Z';

const contactField = (id: number, name: string, label: string, type: string, position: number, extra: Record<string, unknown> = {}) => ({
  id,
  name,
  label,
  label_for_customers: label,
  position,
  type,
  default: true,
  customers_can_edit: true,
  required_for_customers: false,
  displayed_for_customers: true,
  required_for_agents: name === 'name',
  created_at: AT,
  updated_at: AT,
  ...extra,
});

/** Contact Fields › "List All Contact Fields": the default fields of a new account. */
export const CONTACT_FIELDS = [
  contactField(1, 'name', 'Full Name', 'default_name', 1),
  contactField(2, 'job_title', 'Title', 'default_job_title', 2),
  contactField(3, 'email', 'Email', 'default_email', 3),
  contactField(4, 'phone', 'Work Phone', 'default_phone', 4),
  contactField(5, 'mobile', 'Mobile Phone', 'default_mobile', 5),
  contactField(6, 'twitter_id', 'Twitter', 'default_twitter_id', 6),
  contactField(7, 'company_name', 'Company', 'default_company_name', 7),
  contactField(8, 'address', 'Address', 'default_address', 8),
  contactField(9, 'time_zone', 'Time Zone', 'default_time_zone', 9),
  contactField(10, 'language', 'Language', 'default_language', 10),
  contactField(11, 'tag_names', 'Tags', 'default_tag_names', 11),
  contactField(12, 'description', 'About', 'default_description', 12),
  contactField(13, 'unique_external_id', 'Unique External ID', 'default_unique_external_id', 13),
];

const companyField = (id: number, name: string, label: string, type: string, position: number) => ({
  id,
  name,
  label,
  position,
  required_for_agents: name === 'name',
  type,
  default: true,
  created_at: AT,
  updated_at: AT,
});

/** Company Fields › "List All Company Fields". */
export const COMPANY_FIELDS = [
  companyField(101, 'name', 'Company Name', 'default_name', 1),
  companyField(102, 'description', 'Description', 'default_description', 2),
  companyField(103, 'note', 'Notes', 'default_note', 3),
  companyField(104, 'domains', 'Domain names for this company', 'default_domains', 4),
  companyField(105, 'health_score', 'Health score', 'default_health_score', 5),
  companyField(106, 'account_tier', 'Account tier', 'default_account_tier', 6),
  companyField(107, 'renewal_date', 'Renewal date', 'default_renewal_date', 7),
  companyField(108, 'industry', 'Industry', 'default_industry', 8),
];

/** Email Configs › "List All Email Configs": a new account's one primary support address. */
export const emailConfigs = (domain: string) => [
  { id: 1, name: 'Support', product_id: null, to_email: `support@${domain}`, reply_email: `support@${domain}`, group_id: null, primary_role: true, active: true, created_at: AT, updated_at: AT },
];

const weekday = { start_time: '8:00 am', end_time: '5:00 pm' };

/** Business Hours › "List All Business Hours": the default calendar. */
export const BUSINESS_HOURS = [
  {
    id: 1,
    name: 'Default',
    description: 'Default Business Calendar',
    is_default: true,
    time_zone: 'Eastern Time (US & Canada)',
    business_hours: { monday: weekday, tuesday: weekday, wednesday: weekday, thursday: weekday, friday: weekday },
    created_at: AT,
    updated_at: AT,
  },
];

/** Canned Responses › "List All Canned Response Folders": a new account's folders, with no responses. */
export const CANNED_RESPONSE_FOLDERS = [
  { id: 1, name: 'General', personal: false, responses_count: 0, created_at: AT, updated_at: AT },
  { id: 2, name: 'Personal', personal: true, responses_count: 0, created_at: AT, updated_at: AT },
];

/** Ticket Forms › "List All Ticket Forms": the default form, listing the ticket fields it shows. */
export const ticketForms = (fields: { id: number; name: string; label: string; type: string; position: number; default: boolean }[]) => [
  {
    id: 1,
    name: 'default_ticket_form',
    title: 'Report an Issue',
    description: 'Default ticket form',
    default: true,
    fields: fields.map((f) => ({ id: f.id, name: f.name, label: f.label, type: f.type, position: f.position, default: f.default })),
    created_at: AT,
    updated_at: AT,
  },
];
