import type { HttpStats } from './http.ts';
import type { LimitTable } from './limits.ts';
import type {
  AttachmentMeta,
  EntityName,
  EntityTypes,
  Envelope,
  Ticket,
  TicketFieldType,
  TicketPriority,
  TicketStatus,
  TicketType,
} from '../../schemas/canonical.ts';

/** Opaque per-stream position; only the connector that wrote it reads it. */
export interface StreamState {
  /** The connector's own cursor (an export cursor, a timestamp, a page window…). */
  cursor: string | null;
  /** Source-clock time up to which every change is covered, ISO-8601 (for cutoffs and lag). */
  coveredUntil: string | null;
}

export interface StreamDescriptor {
  entity: EntityName;
  /** Field that identifies a record; always `sourceId` in the canonical model. */
  primaryKey: 'sourceId';
  /** Source-clock field the stream's cursor follows; null means the stream is re-read whole each time. */
  cursorField: 'updatedAt' | null;
  /** Whether the platform returns records sorted by the cursor field. */
  sorted: boolean;
  /** A delta read can take the stream's latest changes alone, without the export's delay (`ReadOptions.lane`). Default false. */
  fastLane?: boolean;
  /**
   * Whether `read()` honours `ReadOptions.window`: a sorted stream that can start at a source time and
   * stop at another without fetching what lies outside (express order reads its history this way,
   * newest window first). Default false: the stream is read in one forward pass.
   */
  windows?: boolean;
}

/**
 * A span of a sorted stream on the source's clock, by the stream's own order (its cursor time, which
 * may differ from a record's `updatedAt`, e.g. Zendesk's `generated_timestamp`): from `from` inclusive
 * to `until` exclusive; null leaves that end open.
 */
export interface ReadWindow {
  from: string | null;
  until: string | null;
}

/**
 * What a stream's list says of a ticket before anything more of it is fetched: enough to decide whether
 * the read needs it at all (`ReadOptions.only`).
 */
export interface ListedTicket {
  sourceId: string;
  updatedAt: string;
  status: TicketStatus;
}

/** A stream supports incremental reads exactly when it has a cursor field. */
export function isIncremental(stream: StreamDescriptor): boolean {
  return stream.cursorField !== null;
}

/**
 * A page of records and the state that covers them. The pipeline saves `state` only after every
 * record of the page (and of all earlier pages) has been loaded and written to the ledger.
 */
export interface Page<E extends EntityName = EntityName> {
  records: Envelope<E>[];
  state: StreamState;
}

export interface ReadOptions {
  signal?: AbortSignal;
  /**
   * Re-read window in seconds behind the saved cursor, so same-second and in-flight updates are
   * never skipped. Duplicates this causes are absorbed by upsert-by-source-ID. Default 60.
   */
  overlapSeconds?: number;
  /**
   * The read is a delta pass after a finished full run: a connector may add a low-lag path for the
   * latest changes (Zendesk's fast lane). Default false.
   */
  delta?: boolean;
  /**
   * A delta read of a stream with a fast lane (`StreamDescriptor.fastLane`): `fast` reads only the lane
   * (its pages carry the state the read started from), `export` only the export, leaving out the versions
   * the last `fast` read handed on. Default: the lane, then the export.
   */
  lane?: 'fast' | 'export';
  /**
   * false: a read whose first request draws a limit bucket with no room (an incremental export whose
   * minute is spent) ends at once with a retryable RATE_LIMITED marked `deferred`, before yielding
   * anything, instead of waiting; once its first page is in, the read goes on as usual. Default true.
   */
  waitForBudget?: boolean;
  /**
   * Only for streams that declare `windows`. The read hands out the records whose place in the stream
   * lies in the window, and only those: without a saved state it starts at `from` exactly (no overlap:
   * what lies before belongs to another window); resumed from a state it applies the overlap as usual
   * but still leaves out what precedes `from`. It ends after the first page that reaches `until`, and
   * fetches nothing more (comments, conversations) for records past it. Default: the whole stream.
   */
  window?: ReadWindow;
  /**
   * Ticket streams only: the read hands out only the tickets this passes, and a reader that fetches more
   * of a ticket than its list gives (comments, conversations, the ticket itself) asks before it fetches,
   * so a ticket left out costs nothing beyond its place on a list page. It is asked of every ticket the
   * read lists, in list order; deletions are handed out without asking. The states the read yields cover
   * the tickets left out as they cover the others. Default: every ticket.
   */
  only?: (ticket: ListedTicket) => boolean;
}

/** Lowest and highest ID of a stream's records; IDs between them may be missing (deleted, merged). */
export interface IdRange {
  lowest: number;
  highest: number;
}

export interface RateLimitInfo {
  /** Requests per minute the account is allowed. */
  requestsPerMinute: number;
  /** Records per page of the main list endpoints. */
  pageSize: number;
}

/** API requests one record costs, beyond the list pages that carry it (for `hdm estimate`). */
export interface RequestCost {
  /** Requests per record (a ticket's comment list, a search before a create, the create itself…). Default 0. */
  perRecord?: number;
  /** Requests per comment of a ticket after its first (the description travels with the ticket). Default 0. */
  perComment?: number;
  /** Requests per attachment (Zendesk: one upload each). Default 0. */
  perAttachment?: number;
  /** Records per list or export request when reading; absent when records are not listed. */
  pageSize?: number;
  /**
   * Requests per page of comments, when a read takes the comments of many tickets from one list in pages
   * (descriptions included; Zendesk's ticket event export). Default 0.
   */
  perCommentPage?: number;
  /** Comments per such page. Default 1000. */
  commentPageSize?: number;
  /**
   * Whether a ticket needs the per-record requests, where a read spends them on some tickets only (Zendesk
   * `source.comments: events`: List Comments only for the tickets the event export cannot cover). `hdm
   * estimate` asks it of the tickets it samples and charges the per-record requests for that share.
   * Absent: every record needs them.
   */
  perRecordFor?: (ticket: Ticket) => boolean;
  /** What the projection assumes of this read beyond the counts, for the estimate's output. */
  assumption?: string;
  /**
   * Which requests those are, for the limit buckets they draw (`hdm estimate` per bucket): e.g. a Freshdesk
   * ticket's `perRecord` is `POST /api/v2/tickets` (account + Ticket Create). Requests no route names draw
   * the side's account bucket only. Default none.
   */
  routes?: CostRoute[];
}

/** One kind of request within a {@link RequestCost}: `count` of it per page, record, comment, attachment or page of comments. */
export interface CostRoute {
  per: 'page' | 'record' | 'comment' | 'attachment' | 'commentPage';
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path of the request, e.g. `/api/v2/tickets/1/conversations` (any ID does). */
  path: string;
  /** Query string of the request, where it matters to a bucket (credits, deep pages), e.g. `include=stats`. */
  query?: string;
  /** Requests of this route per unit. Default 1. */
  count?: number;
}

/** The limit table a client paces by, with each bucket's limit as the client holds it now. */
export interface LimitsNow {
  table: LimitTable;
  /** Bucket name → its limit now (learned from the answers or the plan); null where the client does not pace it ahead of a 429. */
  limits: Record<string, number | null>;
}

/** What reading from and writing to a platform costs, entity by entity. */
export interface RequestCosts {
  read: Partial<Record<EntityName, RequestCost>>;
  write: Partial<Record<EntityName, RequestCost>>;
}

export interface SourceConnector {
  readonly platform: string;
  /** Fails fast with AUTH_FAILED or UNREACHABLE. */
  check(): Promise<void>;
  streams(): StreamDescriptor[];
  /**
   * Reads the stream from `state` (null: from the beginning) until it has caught up with the
   * source, yielding pages in cursor order. Tickets come as whole aggregates with their comments.
   */
  read<E extends EntityName>(entity: E, state: StreamState | null, options?: ReadOptions): AsyncIterable<Page<E>>;
  /** One record by its ID on this platform, or null. */
  get<E extends EntityName>(entity: E, id: string): Promise<EntityTypes[E] | null>;
  /** Downloads an attachment's bytes. */
  openAttachment(attachment: AttachmentMeta): Promise<{ body: Uint8Array; contentType: string }>;
  /** How many records a stream holds, when the platform can tell cheaply. */
  count?(entity: EntityName): Promise<number | null>;
  /**
   * The lowest and highest numeric ID of a stream's records, when the platform numbers them in
   * sequence and can tell in a request or two (null: it cannot, or the stream is empty). Lets a
   * demo draw its sample from the whole helpdesk, not only from the first records a read returns.
   */
  idRange?(entity: EntityName): Promise<IdRange | null>;
  /**
   * The platform's own ticket statuses (custom ones included) and the canonical status each reads as
   * by default, for platforms whose statuses are their users' to define (RT lifecycles).
   */
  sourceStatuses?(): Promise<SourceStatus[]>;
  /** A link a person can open to see the record. */
  recordUrl(entity: EntityName, id: string): string;
  readonly rateLimit: RateLimitInfo;
  /** Requests per record read (and written, for the target side); estimates fall back to one request per record. */
  readonly requestCosts?: RequestCosts;
  /** The limit buckets the client paces by, where it paces by a table (Zendesk, Freshdesk); null or absent otherwise. */
  limitsNow?(): LimitsNow | null;
  close(): Promise<void>;
}

/** One of a source platform's own ticket statuses. */
export interface SourceStatus {
  /** The status as the platform names it, e.g. RT's `cancelled by customer`. */
  name: string;
  /** The canonical status it reads as unless `statusMap` says otherwise. */
  status: TicketStatus;
  /** True when the platform counts it as done (RT: an `inactive` status of its lifecycle). */
  inactive: boolean;
}

/** What a target cannot preserve; reports name each one, verification ignores the field. */
export interface Limitation {
  entity: EntityName;
  /** Dotted path into the canonical record, e.g. `comments.createdAt`. */
  field: string;
  description: string;
}

export interface TargetCapabilities {
  ticketStatuses: readonly TicketStatus[];
  ticketPriorities: readonly TicketPriority[];
  ticketTypes: readonly TicketType[];
  /** Entities this target can receive at all. */
  entities: readonly EntityName[];
  /** Custom field types the target has no such type for, with what it stores them as instead. */
  fieldTypeFallbacks?: Readonly<Partial<Record<TicketFieldType, string>>>;
  /**
   * Entities whose records this platform cannot delete through its API, with the reason (`hdm undo`
   * lists such records instead of deleting them). Default: every entity can be deleted.
   */
  undeletable?: Partial<Record<EntityName, string>>;
  /**
   * How long, in ms, a record written to this platform may take to show in the look-ups `find()`
   * makes: after a write whose answer was lost, the loader looks again over this span before writing
   * it a second time. Default 15000.
   */
  writeVisibleWithinMs?: number;
  /**
   * False when the target cannot show an image inside a comment body: the mapper then carries each
   * inline image as an ordinary attachment and leaves `[image: <file name>]` where it was, instead of
   * a reference the target would show broken. Default true.
   */
  inlineImages?: boolean;
  /**
   * Most bytes of attachments one comment can carry, where a target limits each comment on its own. The
   * mapper moves what does not fit into follow-up comments right after it, each within the limit. Default:
   * none. (Freshdesk's 20 MB is for all of a ticket's attachments together, which follow-up comments
   * cannot get around: see `attachmentBytesPerTicket`.)
   */
  attachmentBytesPerComment?: number;
  /**
   * True when the target stamps creation times (and, for notes, authors) itself and the API cannot
   * write the originals: the mapper then keeps them visibly, as a header line on each ticket
   * description and note and as the `original_created_at` date field (`options.originals`). Default
   * false: the target keeps real times (Zendesk's ticket import API).
   */
  setsOwnTimes?: boolean;
  /**
   * Most bytes of attachments one ticket can hold over its life, description and every comment together
   * (Freshdesk: 20 MB). The writer carries attachments in order while they fit; the rest go to the
   * migration's attachment location as links (`options.attachmentLinks`), or are named in the comment
   * that held them when none is configured. The mapper counts both in the run's transformations.
   * Default: none.
   */
  attachmentBytesPerTicket?: number;
  /**
   * Most bytes one attachment can have on the target (Zendesk: 50 MB per file). A larger file goes to
   * the migration's attachment location as a link (`options.attachmentLinks`), or is named in its
   * comment when none is configured; the mapper counts both in the run's transformations. Default: none.
   */
  attachmentBytesPerFile?: number;
  /**
   * Loads of an entity this target wants in flight at once, at the least, where its writer gathers
   * concurrent writes into one request (Zendesk: tickets into `create_many` jobs of up to 100). The
   * loader runs that entity with the larger of this and `options.loaderConcurrency`. Default: none.
   */
  loadConcurrency?: Partial<Record<EntityName, number>>;
}

/**
 * Where attachments a target cannot hold are kept, as links the target's comments point at: a location
 * the user configures (`options.attachmentLinks`). Keys are stable per source record and attachment,
 * so a retry or a re-run writes the same file again under the same link, never a second one.
 */
export interface AttachmentStore {
  /** Saves the bytes under `key` (replacing what was there) and returns the link to them. */
  put(key: string, body: Uint8Array): Promise<string>;
  /** The link `key` has, whether or not it was saved yet. */
  linkFor(key: string): string;
  /** Bytes held under a link of this store, or null when the file is not there or the link is not this store's. */
  sizeOf(link: string): Promise<number | null>;
  /** Whether a link points into this store. */
  owns(link: string): boolean;
}

export interface TargetRef {
  targetId: string;
  /** Target IDs of the children written with this record (ticket comments), by their source ID. */
  children?: Record<string, string>;
}

/** A target record and the stamp that names its source record. */
/** What an upsert wrote: the record, and whether it was new (else an existing one was matched and updated). */
export interface Upserted {
  ref: TargetRef;
  created: boolean;
}

export interface StampedRecord {
  stamp: string;
  targetId: string;
}

/** What `prepare()` did on the target. */
export interface PrepareResult {
  /** Target IDs of the ticket fields this call created: the run's own creations (`hdm undo` removes them). */
  createdFields: string[];
}

/** The stamp that names a source record on the target: `<source platform>:<source ID>`, e.g. `zendesk:1234`. */
export function recordStamp(sourcePlatform: string, sourceId: string): string {
  return `${sourcePlatform}:${sourceId}`;
}

export interface WriteContext {
  /** The stamp that identifies the source record on the target (`recordStamp`), e.g. `zendesk:1234`. */
  stamp: string;
  /** Downloads an attachment from the source. */
  openAttachment(attachment: AttachmentMeta): Promise<{ body: Uint8Array; contentType: string }>;
  /** Comments already on the target for this record (source comment ID → target comment ID). */
  knownChildren: Record<string, string>;
  /** Where attachments the target cannot hold are kept as links; absent, they are named instead. */
  attachmentStore?: AttachmentStore;
}

/**
 * Writes planned records. A planned record is canonical, but every reference in it
 * (requesterId, assigneeId, groupId, organizationId, comment authorId, groupIds, categoryId,
 * sectionId, authorId) already holds a *target* ID; `sourceId` stays the source's.
 */
export interface TargetConnector {
  readonly platform: string;
  check(): Promise<void>;
  readonly limitations: readonly Limitation[];
  readonly capabilities: TargetCapabilities;
  /**
   * Finds the record a previous run created for this source record: by its stamp where the
   * platform can hold one (external_id, a custom field), else by natural key (email, name).
   */
  find<E extends EntityName>(entity: E, record: EntityTypes[E], stamp: string): Promise<TargetRef | null>;
  create<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<TargetRef>;
  /**
   * One request in place of find() then create() or update(), where the platform has one that matches by
   * the stamp or the natural key find() uses (Zendesk's `users/create_or_update`): `created` says whether
   * the record is new. Null when the platform has no such request for this entity.
   */
  upsert?<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<Upserted | null>;
  /** Replaces the target's version; appends only comments not already there. */
  update<E extends EntityName>(entity: E, targetId: string, record: EntityTypes[E], context: WriteContext): Promise<TargetRef>;
  delete(entity: EntityName, targetId: string): Promise<void>;
  /**
   * Every ticket on the target whose stamp starts with `prefix` (e.g. `zendesk:`), page by page: lets a
   * run whose id map is gone (a lost state directory, a renamed migration) rebuild it in one pass over
   * the target instead of a look-up per record, so nothing is created twice.
   */
  stampedTickets?(prefix: string, signal?: AbortSignal): AsyncIterable<StampedRecord[]>;
  /** Makes sure the target has the custom fields the source uses (same keys, matching types). */
  prepare?(context: { ticketFields: EntityTypes['ticketField'][] }): Promise<PrepareResult>;
  recordUrl(entity: EntityName, id: string): string;
  close(): Promise<void>;
}

/** Both halves of a platform: every connector can be a source and a target. */
export interface Connector extends SourceConnector, TargetConnector {
  close(): Promise<void>;
  /** Request, 429 and rate-limit headroom counters of the connector's HTTP client, for metrics. */
  httpStats?(): HttpStats | null;
}

export interface ConnectorConfig {
  /** Base URL of the platform's API host. */
  url: string;
  /** Credentials as the platform expects them (already read from the environment). */
  credentials: Record<string, string>;
  /** Requests in flight at once. Default 8. */
  concurrency?: number;
  /** Client-side requests-per-minute ceiling; 0 means rely on the server's 429s. Default 0. */
  requestsPerMinute?: number;
  /**
   * Plan whose limit buckets the client paces by, as the platform names it; `none` paces only after a 429
   * (of the bucket that answered it). Default: the limits the account's answers state, else Enterprise.
   */
  plan?: string;
  /** The platform's high-volume API add-on is on the account. Default false. */
  highVolume?: boolean;
  /**
   * Delta passes also read the latest changes from a list the platform serves without its export's
   * delay, where it has one (Zendesk: List Tickets by updated_at). Default true.
   */
  fastLane?: boolean;
  /**
   * Where a source reads ticket comments, where the platform offers more than one way (Zendesk:
   * `per-ticket`, `events`, `auto`). Default `per-ticket`.
   */
  comments?: 'per-ticket' | 'events' | 'auto';
  /** Attempts for a retryable failure (5xx, unreachable; 429s are waited out) before giving up. Default 8. */
  maxAttempts?: number;
  /** Longest one request or download may take from send to last byte, in ms. Default 300000. */
  deadlineMs?: number;
  /** The run's stop request: once aborted, requests in flight are cut and new ones fail with INTERRUPTED. */
  signal?: AbortSignal;
}
