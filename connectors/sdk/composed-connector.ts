import type { AttachmentMeta, EntityName, EntityTypes, TicketField } from '../../schemas/canonical.ts';
import type {
  Connector,
  IdRange,
  Limitation,
  Page,
  PrepareResult,
  RateLimitInfo,
  ReadOptions,
  StreamDescriptor,
  StampedRecord,
  StreamState,
  TargetCapabilities,
  TargetRef,
  Upserted,
  WriteContext,
} from './contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { HttpStats } from './http.ts';

/** The reading half of a platform connector; what it lacks, the connector itself provides. */
export interface ConnectorReader {
  streams?(): StreamDescriptor[];
  read<E extends EntityName>(entity: E, state: StreamState | null, options?: ReadOptions): AsyncIterable<Page<E>>;
  get<E extends EntityName>(entity: E, id: string): Promise<EntityTypes[E] | null>;
  openAttachment?(attachment: AttachmentMeta): Promise<{ body: Uint8Array; contentType: string }>;
  count?(entity: EntityName): Promise<number | null>;
  idRange?(entity: EntityName): Promise<IdRange | null>;
}

/** The writing half of a platform connector. */
export interface ConnectorWriter {
  find<E extends EntityName>(entity: E, record: EntityTypes[E], stamp: string): Promise<TargetRef | null>;
  create<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<TargetRef>;
  upsert?<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<Upserted | null>;
  update<E extends EntityName>(entity: E, targetId: string, record: EntityTypes[E], context: WriteContext): Promise<TargetRef>;
  delete(entity: EntityName, targetId: string): Promise<void>;
  prepare(context: { ticketFields: TicketField[] }): Promise<PrepareResult>;
  stampedTickets(prefix: string, signal?: AbortSignal): AsyncIterable<StampedRecord[]>;
}

/**
 * A connector made of a reader and a writer over one client: what every platform shares, so that a
 * platform's connector holds only what is its own (the connection check, record URLs).
 */
export abstract class ComposedConnector implements Connector {
  abstract readonly platform: string;
  abstract readonly rateLimit: RateLimitInfo;
  protected abstract readonly reader: ConnectorReader;
  protected abstract readonly writer: ConnectorWriter;
  protected abstract readonly client: { close(): Promise<void>; http?: { stats: HttpStats } };

  abstract readonly limitations: readonly Limitation[];
  abstract readonly capabilities: TargetCapabilities;

  abstract check(): Promise<void>;
  abstract recordUrl(entity: EntityName, id: string): string;

  streams(): StreamDescriptor[] {
    if (!this.reader.streams) throw new HdmError('INTERNAL', `${this.platform}: the connector must provide streams()`);
    return this.reader.streams();
  }

  read<E extends EntityName>(entity: E, state: StreamState | null, options?: ReadOptions): AsyncIterable<Page<E>> {
    return this.reader.read(entity, state, options);
  }

  get<E extends EntityName>(entity: E, id: string): Promise<EntityTypes[E] | null> {
    return this.reader.get(entity, id);
  }

  openAttachment(attachment: AttachmentMeta): Promise<{ body: Uint8Array; contentType: string }> {
    if (!this.reader.openAttachment) throw new HdmError('INTERNAL', `${this.platform}: the connector must provide openAttachment()`);
    return this.reader.openAttachment(attachment);
  }

  async count(entity: EntityName): Promise<number | null> {
    return this.reader.count ? this.reader.count(entity) : null;
  }

  async idRange(entity: EntityName): Promise<IdRange | null> {
    return this.reader.idRange ? this.reader.idRange(entity) : null;
  }

  find<E extends EntityName>(entity: E, record: EntityTypes[E], stamp: string): Promise<TargetRef | null> {
    return this.writer.find(entity, record, stamp);
  }

  create<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> {
    return this.writer.create(entity, record, context);
  }

  async upsert<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<Upserted | null> {
    return this.writer.upsert ? this.writer.upsert(entity, record, context) : null;
  }

  update<E extends EntityName>(entity: E, targetId: string, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> {
    return this.writer.update(entity, targetId, record, context);
  }

  delete(entity: EntityName, targetId: string): Promise<void> {
    return this.writer.delete(entity, targetId);
  }

  prepare(context: { ticketFields: TicketField[] }): Promise<PrepareResult> {
    return this.writer.prepare(context);
  }

  stampedTickets(prefix: string, signal?: AbortSignal): AsyncIterable<StampedRecord[]> {
    return this.writer.stampedTickets(prefix, signal);
  }

  httpStats(): HttpStats | null {
    return this.client.http?.stats ?? null;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
