import type { FreshdeskClient } from './freshdesk.client.ts';
import { fieldIndex, type FieldIndex } from './freshdesk.mapping.ts';
import type { FdHelpdeskSettings, FdRole, FdTicketField } from './freshdesk.types.ts';

/** Account-wide lookups that change rarely, fetched once and shared by the reader and the writer. */
export class FreshdeskAccount {
  private fields: Promise<FdTicketField[]> | null = null;
  private roles: Promise<FdRole[]> | null = null;
  private settings: Promise<FdHelpdeskSettings> | null = null;

  constructor(private readonly client: FreshdeskClient) {}

  /** Ticket fields as `/api/v2/ticket_fields` lists them (readable by every agent). */
  ticketFields(refresh = false): Promise<FdTicketField[]> {
    if (refresh || !this.fields) {
      this.fields = this.client.get<FdTicketField[]>('/api/v2/ticket_fields');
      this.fields.catch(() => (this.fields = null));
    }
    return this.fields;
  }

  async fieldIndex(refresh = false): Promise<FieldIndex> {
    return fieldIndex(await this.ticketFields(refresh));
  }

  forgetFields(): void {
    this.fields = null;
  }

  rolesList(): Promise<FdRole[]> {
    if (!this.roles) {
      this.roles = this.client.get<FdRole[]>('/api/v2/roles');
      this.roles.catch(() => (this.roles = null));
    }
    return this.roles;
  }

  async roleMap(): Promise<Map<number, FdRole>> {
    return new Map((await this.rolesList()).map((r) => [r.id, r]));
  }

  helpdeskSettings(): Promise<FdHelpdeskSettings> {
    if (!this.settings) {
      this.settings = this.client
        .find<FdHelpdeskSettings>('/api/v2/settings/helpdesk')
        .then((s) => s ?? { primary_language: 'en', supported_languages: [], portal_languages: [] });
      this.settings.catch(() => (this.settings = null));
    }
    return this.settings;
  }
}
