/** Zendesk's JSON shapes, as far as the connector reads and writes them (public API v2). */

export type ZdId = number;

export interface ZdAttachment {
  id: ZdId;
  file_name: string;
  content_url: string;
  mapped_content_url?: string;
  content_type: string;
  size: number;
  inline: boolean;
  deleted?: boolean;
  url?: string;
  thumbnails?: unknown[];
}

export interface ZdComment {
  id: ZdId;
  type: 'Comment' | 'VoiceComment';
  author_id: ZdId | null;
  body: string;
  html_body: string;
  plain_body: string;
  public: boolean;
  audit_id?: ZdId;
  attachments: ZdAttachment[];
  via?: unknown;
  metadata?: unknown;
  created_at: string;
}

export interface ZdCustomFieldValue {
  id: ZdId;
  value: string | number | boolean | string[] | null;
}

export interface ZdTicket {
  id: ZdId;
  url?: string;
  external_id: string | null;
  subject: string | null;
  raw_subject?: string | null;
  description?: string;
  status: string;
  priority: string | null;
  type: string | null;
  requester_id: ZdId | null;
  submitter_id: ZdId | null;
  assignee_id: ZdId | null;
  group_id: ZdId | null;
  organization_id: ZdId | null;
  tags: string[];
  custom_fields: ZdCustomFieldValue[];
  fields?: ZdCustomFieldValue[];
  created_at: string;
  updated_at: string;
  generated_timestamp?: number;
  via?: unknown;
}

export interface ZdUser {
  id: ZdId;
  url?: string;
  name: string;
  email: string | null;
  phone: string | null;
  role: 'end-user' | 'agent' | 'admin';
  role_type: number | null;
  custom_role_id?: ZdId | null;
  active: boolean;
  suspended: boolean;
  verified?: boolean;
  organization_id: ZdId | null;
  default_group_id?: ZdId | null;
  external_id: string | null;
  tags: string[];
  time_zone: string | null;
  iana_time_zone?: string | null;
  user_fields: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface ZdOrganization {
  id: ZdId;
  url?: string;
  name: string;
  domain_names: string[];
  notes: string | null;
  details: string | null;
  tags: string[];
  external_id: string | null;
  organization_fields: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  deleted_at?: string | null;
}

export interface ZdGroup {
  id: ZdId;
  url?: string;
  name: string;
  description: string;
  default: boolean;
  deleted: boolean;
  is_public: boolean;
  created_at: string;
  updated_at: string;
}

export interface ZdGroupMembership {
  id: ZdId;
  user_id: ZdId;
  group_id: ZdId;
  default: boolean;
  created_at: string;
  updated_at: string;
}

export interface ZdFieldOption {
  id?: ZdId;
  name: string;
  raw_name?: string;
  value: string;
  default?: boolean;
}

export type ZdFieldType =
  | 'subject'
  | 'description'
  | 'status'
  | 'custom_status'
  | 'tickettype'
  | 'priority'
  | 'group'
  | 'assignee'
  | 'text'
  | 'textarea'
  | 'checkbox'
  | 'date'
  | 'integer'
  | 'decimal'
  | 'regexp'
  | 'partialcreditcard'
  | 'multiselect'
  | 'tagger'
  | 'lookup';

export interface ZdTicketField {
  id: ZdId;
  url?: string;
  type: ZdFieldType;
  title: string;
  raw_title?: string;
  description: string;
  agent_description?: string | null;
  position: number;
  active: boolean;
  required: boolean;
  removable: boolean;
  tag?: string | null;
  regexp_for_validation: string | null;
  custom_field_options?: ZdFieldOption[];
  created_at: string;
  updated_at: string;
}

export interface ZdCategory {
  id: ZdId;
  url?: string;
  html_url?: string;
  name: string;
  description: string;
  locale: string;
  source_locale: string;
  position: number;
  outdated: boolean;
  created_at: string;
  updated_at: string;
}

export interface ZdSection extends ZdCategory {
  category_id: ZdId;
  parent_section_id: ZdId | null;
  sorting: string;
}

export interface ZdArticle {
  id: ZdId;
  url?: string;
  html_url?: string;
  section_id: ZdId;
  author_id: ZdId | null;
  title: string;
  body: string;
  locale: string;
  source_locale: string;
  draft: boolean;
  promoted: boolean;
  position: number;
  label_names: string[];
  permission_group_id: ZdId;
  user_segment_id: ZdId | null;
  outdated: boolean;
  comments_disabled: boolean;
  created_at: string;
  updated_at: string;
  edited_at: string;
}

export interface ZdTranslation {
  id: ZdId;
  url?: string;
  source_id: ZdId;
  source_type: 'Article' | 'Section' | 'Category';
  locale: string;
  title: string;
  body: string;
  draft: boolean;
  outdated: boolean;
  hidden: boolean;
  created_at: string;
  updated_at: string;
}

export interface ZdUpload {
  token: string;
  expires_at: string;
  attachment: ZdAttachment;
  attachments: ZdAttachment[];
}

export interface ZdJobStatus {
  id: string;
  url: string;
  status: 'queued' | 'working' | 'failed' | 'completed' | 'killed';
  total: number;
  progress: number;
  message: string | null;
  results: { index: number; id?: ZdId; status?: string; error?: string; details?: string }[] | null;
}

/** Zendesk's error body: `{"error": "RecordInvalid", "description": "...", "details": {...}}`. */
export interface ZdErrorBody {
  error: string | { title: string; message: string };
  description?: string;
  details?: Record<string, { description: string; error?: string }[]>;
}
