/** Freshdesk API v2 JSON shapes, as far as this connector reads or writes them. */

export interface FdAttachment {
  id: number;
  name: string;
  content_type: string;
  size: number;
  attachment_url: string;
  created_at: string;
  updated_at: string;
}

export type FdCustomFieldValue = string | number | boolean | null;

export interface FdTicket {
  id: number;
  subject: string | null;
  description?: string;
  description_text?: string;
  status: number;
  priority: number;
  type: string | null;
  source: number;
  requester_id: number | null;
  responder_id: number | null;
  group_id: number | null;
  company_id: number | null;
  tags: string[];
  custom_fields: Record<string, FdCustomFieldValue>;
  attachments?: FdAttachment[];
  spam?: boolean;
  deleted?: boolean;
  created_at: string;
  updated_at: string;
}

export interface FdConversation {
  id: number;
  body: string;
  body_text?: string;
  incoming: boolean;
  private: boolean;
  user_id: number | null;
  /** 0 reply, 2 note, others from channels. */
  source: number;
  ticket_id: number;
  support_email?: string | null;
  attachments: FdAttachment[];
  created_at: string;
  updated_at: string;
}

export interface FdContact {
  id: number;
  name: string;
  email: string | null;
  phone: string | null;
  mobile: string | null;
  company_id: number | null;
  tags: string[];
  time_zone: string | null;
  unique_external_id: string | null;
  custom_fields: Record<string, FdCustomFieldValue>;
  active?: boolean;
  deleted?: boolean;
  created_at: string;
  updated_at: string;
}

export interface FdAgent {
  id: number;
  occasional: boolean;
  ticket_scope: number;
  /** support_agent, field_agent, collaborator */
  type: string;
  group_ids: number[];
  role_ids: number[];
  available?: boolean;
  contact: {
    name: string;
    email: string;
    active: boolean;
    time_zone: string | null;
    phone?: string | null;
    mobile?: string | null;
    language?: string;
    created_at: string;
    updated_at: string;
  };
  created_at: string;
  updated_at: string;
}

export interface FdRole {
  id: number;
  name: string;
  description?: string;
  default: boolean;
  created_at?: string;
  updated_at?: string;
}

export interface FdCompany {
  id: number;
  name: string;
  description: string | null;
  note: string | null;
  domains: string[];
  custom_fields: Record<string, FdCustomFieldValue>;
  created_at: string;
  updated_at: string;
}

export interface FdGroup {
  id: number;
  name: string;
  description: string | null;
  agent_ids?: number[];
  created_at: string;
  updated_at: string;
}

export type FdFieldType =
  | 'custom_text'
  | 'custom_paragraph'
  | 'custom_checkbox'
  | 'custom_date'
  | 'custom_number'
  | 'custom_decimal'
  | 'custom_dropdown'
  | 'nested_field'
  | (string & {});

/** A field as `/api/v2/ticket_fields` lists it: dropdown choices as plain strings. */
export interface FdTicketField {
  id: number;
  name: string;
  label: string;
  label_for_customers?: string;
  description?: string | null;
  position: number;
  type: FdFieldType;
  default: boolean;
  required_for_closure: boolean;
  required_for_agents: boolean;
  required_for_customers: boolean;
  customers_can_edit?: boolean;
  displayed_to_customers?: boolean;
  choices?: unknown;
  created_at: string;
  updated_at: string;
}

/** A choice as the admin ticket field endpoints give and take it. */
export interface FdAdminChoice {
  id?: number;
  value: string;
  position: number;
}

export interface FdCategory {
  id: number;
  name: string;
  description: string | null;
  visible_in_portals?: number[];
  created_at: string;
  updated_at: string;
}

export interface FdFolder {
  id: number;
  name: string;
  description: string | null;
  visibility: number;
  category_id?: number;
  parent_folder_id?: number | null;
  created_at: string;
  updated_at: string;
}

export interface FdArticle {
  id: number;
  type: number;
  category_id: number;
  folder_id: number;
  title: string;
  description: string;
  description_text?: string;
  /** 1 draft, 2 published */
  status: number;
  agent_id: number | null;
  tags: string[];
  seo_data?: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface FdHelpdeskSettings {
  primary_language: string;
  supported_languages: string[];
  portal_languages: string[];
}

export interface FdValidationError {
  description: string;
  errors: { field: string; message: string; code: string }[];
}
