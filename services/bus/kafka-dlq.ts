import type { Admin, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { HdmError } from '../../schemas/errors.ts';
import { defaultDeadLetterTopic, describe, DLQ_HEADERS, headersOf, kafkaClient, probeKafka, topicName } from './kafka-bus.ts';
import { readRanges, topicBounds, type Range } from './kafka-reader.ts';

/**
 * Reading and replaying a migration's dead-letter topic (`hdm.<migration>.dlq`), byte for byte: no schema
 * registry is needed, a dead letter is whatever the bus could not decode.
 *
 * What was replayed is kept in a compacted marker topic beside the DLQ (`<dlq>-replayed`), one record per
 * dead letter keyed `<partition>:<offset>`. Each re-published letter and its marker are written in one
 * Kafka transaction, so a letter counts as replayed exactly when its copy reached the original topic;
 * `replay all` skips marked letters and stops at the DLQ's end as it was when the replay began, so a
 * letter that is still poison and comes back to the DLQ is not re-sent by the same replay.
 */

/** Header a replayed message carries: `<dlq topic>:<partition>:<offset>` of the dead letter it came from. */
export const REPLAYED_FROM_HEADER = 'hdm-dlq-replayed-from';

const DLQ_PREFIX = 'hdm-dlq-';

/** The dead-letter topic of a migration (where its bus sends poison messages). */
export function deadLetterTopicOf(migration: string): string {
  return defaultDeadLetterTopic(topicName(migration, 'records'));
}

/** The compacted topic that records which letters of `dlqTopic` were replayed. */
export function replayMarkerTopicOf(dlqTopic: string): string {
  return `${dlqTopic}-replayed`;
}

export interface DeadLetter {
  /** `<partition>:<offset>` in the DLQ; what `replay` takes. */
  id: string;
  partition: number;
  offset: string;
  /** When the letter was written to the DLQ (ISO 8601). */
  timestamp: string;
  key: string | null;
  /** Bytes of the value (0 for a null value). */
  size: number;
  stage: string | null;
  code: string | null;
  reason: string | null;
  message: string | null;
  original: { topic: string | null; partition: number | null; offset: string | null };
  /** Set when this letter is itself a replay that was dead-lettered again: the letter it was replayed from. */
  replayedFrom: string | null;
  /** Set once the letter was replayed (from the marker topic). */
  replayed: ReplayMarker | null;
  /** Every header, decoded as UTF-8 (the original ones and the `hdm-dlq-*` ones). */
  headers: Record<string, string>;
}

export interface ReplayMarker {
  at: string;
  topic: string;
  partition: number;
  offset: string;
}

export interface ListOptions {
  /** Letters returned at most, oldest first. Default 100. */
  limit?: number;
  /** Only letters written at or after this time. Default: all. */
  since?: Date;
  /** Only this `hdm-dlq-reason` (`undecodable`, `unknown-schema`, `schema-incompatible`, …). Default: all. */
  reason?: string;
  /** Only this `hdm-dlq-stage`. Default: all. */
  stage?: string;
}

export interface ListResult {
  topic: string;
  letters: DeadLetter[];
  /** Letters that matched the filters; more than `letters.length` when `limit` cut the list. */
  matched: number;
}

export interface ReplayOptions {
  /** `all`: every letter not replayed before; or the ids (`<partition>:<offset>`, or a bare offset when it names one letter). */
  offsets: 'all' | string[];
  /** Select and report, send nothing. Default false. */
  dryRun?: boolean;
  /** Re-publish here instead of each letter's original topic. Default: the original topic. */
  toTopic?: string;
}

export interface ReplayedLetter {
  id: string;
  reason: string | null;
  key: string | null;
  /** Where the copy went (partition and offset are absent on a dry run). */
  to: { topic: string; partition?: number; offset?: string };
  /** When an explicitly named letter had been replayed already: that earlier replay. */
  previously: ReplayMarker | null;
}

export interface ReplayResult {
  topic: string;
  dryRun: boolean;
  replayed: ReplayedLetter[];
  /** Letters `all` passed over because they were replayed before. */
  alreadyReplayed: number;
  /** Letters not sent, with why (their original topic is unknown or does not exist). */
  skipped: { id: string; why: string }[];
}

export interface DeadLetterQueueOptions {
  /** Bootstrap servers, e.g. `['127.0.0.1:9092']`. */
  brokers: string[];
  /** The DLQ topic, e.g. `deadLetterTopicOf(migration)`. */
  topic: string;
  /** Client ID sent to the brokers. Default `hdm-dlq`. */
  clientId?: string;
  /** Milliseconds to wait for Kafka to answer at connect. Default 5000. */
  connectTimeoutMs?: number;
  /** Milliseconds a read of the DLQ may go without progress before failing with TIMEOUT. Default 30000. */
  stallTimeoutMs?: number;
  /** Letters re-published per transaction. Default 100. */
  batchSize?: number;
}

/** How to start Kafka locally, named in UNREACHABLE errors. */
export const START_KAFKA_HINT = 'Start it with `npm run services:up -- kafka schema-registry`, or pass the right --brokers / HDM_KAFKA_BROKERS';


const idOf = (partition: number, offset: string | bigint) => `${partition}:${offset}`;

/** Parses `3:17` (or `17` when one partition holds offset 17) against the DLQ's partitions. */
function parseId(text: string, bounds: Map<number, Range>, topic: string): { partition: number; offset: bigint } {
  const m = /^\s*(?:(\d+):)?(\d+)\s*$/.exec(text);
  if (!m) throw new HdmError('CONFIG_INVALID', `"${text}" is not a dead letter: use <partition>:<offset> as \`hdm dlq list\` shows it, e.g. 0:17`, { context: { topic } });
  const offset = BigInt(m[2]!);
  const within = (p: number) => {
    const b = bounds.get(p);
    return b !== undefined && offset >= b.from && offset < b.to;
  };
  if (m[1] !== undefined) {
    const partition = Number(m[1]);
    if (!within(partition)) throw new HdmError('NOT_FOUND', `${topic} has no dead letter ${partition}:${offset}`, { context: { topic, offset: String(offset) } });
    return { partition, offset };
  }
  const candidates = [...bounds.keys()].filter(within).sort((a, b) => a - b);
  if (candidates.length === 0) throw new HdmError('NOT_FOUND', `${topic} has no dead letter at offset ${offset} in any partition`, { context: { topic, offset: String(offset) } });
  if (candidates.length > 1) {
    throw new HdmError('CONFIG_INVALID', `offset ${offset} is ambiguous in ${topic}: name the partition, one of ${candidates.map((p) => idOf(p, offset)).join(', ')}`, {
      context: { topic, offset: String(offset) },
    });
  }
  return { partition: candidates[0]!, offset };
}

function letterOf(partition: number, message: KafkaMessage, replayed: ReplayMarker | null): DeadLetter {
  const headers = headersOf(message.headers);
  const originalPartition = headers[DLQ_HEADERS.partition];
  return {
    id: idOf(partition, message.offset),
    partition,
    offset: message.offset,
    timestamp: new Date(Number(message.timestamp)).toISOString(),
    key: message.key ? message.key.toString('utf8') : null,
    size: message.value?.length ?? 0,
    stage: headers[DLQ_HEADERS.stage] ?? null,
    code: headers[DLQ_HEADERS.code] ?? null,
    reason: headers[DLQ_HEADERS.reason] ?? null,
    message: headers[DLQ_HEADERS.message] ?? null,
    original: {
      topic: headers[DLQ_HEADERS.topic] ?? null,
      partition: originalPartition === undefined ? null : Number(originalPartition),
      offset: headers[DLQ_HEADERS.offset] ?? null,
    },
    replayedFrom: headers[REPLAYED_FROM_HEADER] ?? null,
    replayed,
    headers,
  };
}

/** The headers a replayed copy carries: the message's own, without the DLQ's, plus where it came from. */
function replayHeaders(message: KafkaMessage, from: string): IHeaders {
  const out: IHeaders = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) {
    if (v !== undefined && !k.startsWith(DLQ_PREFIX)) out[k] = v;
  }
  out[REPLAYED_FROM_HEADER] = from;
  return out;
}

const olderFirst = (a: DeadLetter, b: DeadLetter) =>
  a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1);

export class KafkaDeadLetterQueue {
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  private readonly markerTopic: string;
  private producer: Producer | null = null;
  /** Markers this instance committed: a committed transaction's records become readable a moment later. */
  private readonly written = new Map<string, ReplayMarker>();

  private constructor(private readonly options: DeadLetterQueueOptions) {
    const timeout = options.connectTimeoutMs ?? 5000;
    this.kafka = kafkaClient(options.clientId ?? 'hdm-dlq', options.brokers, timeout, { retries: 5, maxRetryTime: 3000 });
    this.admin = this.kafka.admin();
    this.markerTopic = replayMarkerTopicOf(options.topic);
  }

  get topic(): string {
    return this.options.topic;
  }

  /** Connects to Kafka; a clear UNREACHABLE error within `connectTimeoutMs` when it does not answer. */
  static async connect(options: DeadLetterQueueOptions): Promise<KafkaDeadLetterQueue> {
    if (options.brokers.length === 0) throw new HdmError('CONFIG_INVALID', 'no Kafka brokers given');
    const dlq = new KafkaDeadLetterQueue(options);
    const timeout = options.connectTimeoutMs ?? 5000;
    try {
      await probeKafka('hdm-dlq-probe', options.brokers, timeout);
      await dlq.admin.connect();
    } catch (err) {
      throw new HdmError('UNREACHABLE', `Kafka at ${options.brokers.join(',')} is unreachable: ${describe(err)}. ${START_KAFKA_HINT}.`, {
        context: { brokers: options.brokers.join(','), topic: options.topic },
        cause: err,
      });
    }
    return dlq;
  }

  private bounds(topic: string): Promise<Map<number, Range> | null> {
    return topicBounds(this.admin, topic);
  }

  private read(
    topic: string,
    bounds: Map<number, Range>,
    ranges: Map<number, Range>,
    onMessages: (partition: number, messages: KafkaMessage[], heartbeat: () => Promise<void>) => Promise<void>,
  ): Promise<void> {
    return readRanges(this.kafka, this.admin, { topic, bounds, ranges, onMessages, group: 'hdm-dlq-reader', stallTimeoutMs: this.options.stallTimeoutMs });
  }

  /** What the marker topic says was replayed, by letter id. */
  private async markers(): Promise<Map<string, ReplayMarker>> {
    const out = new Map<string, ReplayMarker>();
    const bounds = await this.bounds(this.markerTopic);
    if (bounds) await this.readMarkers(bounds, out);
    for (const [key, marker] of this.written) out.set(key, marker);
    return out;
  }

  private async readMarkers(bounds: Map<number, Range>, out: Map<string, ReplayMarker>): Promise<void> {
    await this.read(this.markerTopic, bounds, bounds, async (_partition, messages) => {
      for (const m of messages) {
        const key = m.key?.toString('utf8');
        if (!key) continue;
        if (m.value === null) out.delete(key);
        else out.set(key, JSON.parse(m.value.toString('utf8')) as ReplayMarker);
      }
    });
  }

  /** The dead letters up to the DLQ's current end, oldest first; an empty list when the topic does not exist. */
  async list(options: ListOptions = {}): Promise<ListResult> {
    const topic = this.options.topic;
    const limit = options.limit ?? 100;
    const bounds = await this.bounds(topic);
    const result: ListResult = { topic, letters: [], matched: 0 };
    if (!bounds || [...bounds.values()].every((b) => b.from >= b.to)) return result;
    const markers = await this.markers();
    const since = options.since?.getTime();
    await this.read(topic, bounds, bounds, async (partition, messages) => {
      for (const m of messages) {
        if (since !== undefined && Number(m.timestamp) < since) continue;
        const letter = letterOf(partition, m, markers.get(idOf(partition, m.offset)) ?? null);
        if (options.reason !== undefined && letter.reason !== options.reason) continue;
        if (options.stage !== undefined && letter.stage !== options.stage) continue;
        result.matched += 1;
        // Only the oldest `limit` letters are kept, however long the topic.
        const at = result.letters.findIndex((other) => olderFirst(letter, other) < 0);
        if (at === -1) {
          if (result.letters.length < limit) result.letters.push(letter);
        } else {
          result.letters.splice(at, 0, letter);
          if (result.letters.length > limit) result.letters.pop();
        }
      }
    });
    return result;
  }

  /**
   * Re-publishes dead letters (key, value and original headers, plus REPLAYED_FROM_HEADER) to their original
   * topic, or `toTopic`, and marks them replayed in the same transaction.
   */
  async replay(options: ReplayOptions): Promise<ReplayResult> {
    const topic = this.options.topic;
    const result: ReplayResult = { topic, dryRun: options.dryRun === true, replayed: [], alreadyReplayed: 0, skipped: [] };
    const bounds = await this.bounds(topic);
    if (!bounds) {
      if (options.offsets === 'all') return result;
      throw new HdmError('NOT_FOUND', `${topic} does not exist: nothing was dead-lettered yet`, { context: { topic } });
    }
    const named = new Set<string>();
    const ranges = new Map<number, Range>();
    if (options.offsets === 'all') {
      for (const [p, b] of bounds) ranges.set(p, b);
    } else {
      if (options.offsets.length === 0) throw new HdmError('CONFIG_INVALID', 'name the dead letters to replay (e.g. 0:17), or replay all');
      for (const text of options.offsets) {
        const { partition, offset } = parseId(text, bounds, topic);
        named.add(idOf(partition, offset));
        const r = ranges.get(partition);
        ranges.set(partition, r ? { from: r.from < offset ? r.from : offset, to: r.to > offset + 1n ? r.to : offset + 1n } : { from: offset, to: offset + 1n });
      }
    }
    const existing = new Set(await this.admin.listTopics());
    if (options.toTopic !== undefined && !existing.has(options.toTopic)) {
      throw new HdmError('NOT_FOUND', `topic ${options.toTopic} does not exist: replay only goes to an existing topic`, { context: { topic: options.toTopic } });
    }
    // The producer first: its start waits until an earlier replay's transaction is complete, markers included,
    // so the markers read next cover it.
    const producer = options.dryRun ? null : await this.transactionalProducer();
    const markers = await this.markers();
    const batchSize = this.options.batchSize ?? 100;

    const send = async (letters: { partition: number; message: KafkaMessage; to: string }[], heartbeat: () => Promise<void>) => {
      if (letters.length === 0) return;
      const entries: ReplayedLetter[] = letters.map(({ partition, message, to }) => ({
        id: idOf(partition, message.offset),
        reason: headersOf(message.headers)[DLQ_HEADERS.reason] ?? null,
        key: message.key ? message.key.toString('utf8') : null,
        to: { topic: to },
        previously: markers.get(idOf(partition, message.offset)) ?? null,
      }));
      if (producer) {
        const tx = await producer.transaction();
        try {
          const now = new Date().toISOString();
          const marks = [];
          for (const [i, { partition, message, to }] of letters.entries()) {
            const [meta] = await tx.send({
              topic: to,
              acks: -1,
              messages: [{ key: message.key, value: message.value, headers: replayHeaders(message, `${topic}:${idOf(partition, message.offset)}`) }],
            });
            const marker: ReplayMarker = { at: now, topic: to, partition: meta!.partition, offset: String(meta!.baseOffset ?? meta!.offset) };
            entries[i]!.to = { topic: to, partition: marker.partition, offset: marker.offset };
            marks.push({ key: idOf(partition, message.offset), value: JSON.stringify(marker) });
          }
          await tx.send({ topic: this.markerTopic, acks: -1, messages: marks });
          await tx.commit();
          for (const { key, value } of marks) this.written.set(key, JSON.parse(value) as ReplayMarker);
          await heartbeat().catch(() => undefined);
        } catch (err) {
          await tx.abort().catch(() => undefined);
          throw replayFailure(topic, err, this.options.brokers);
        }
      }
      result.replayed.push(...entries);
    };

    await this.read(topic, bounds, ranges, async (partition, messages, heartbeat) => {
      const batch: { partition: number; message: KafkaMessage; to: string }[] = [];
      for (const message of messages) {
        const id = idOf(partition, message.offset);
        if (options.offsets === 'all') {
          if (markers.has(id)) {
            result.alreadyReplayed += 1;
            continue;
          }
        } else if (!named.has(id)) continue;
        const to = options.toTopic ?? headersOf(message.headers)[DLQ_HEADERS.topic];
        if (!to) {
          result.skipped.push({ id, why: `it has no ${DLQ_HEADERS.topic} header: name a topic to replay it to` });
          continue;
        }
        if (!existing.has(to)) {
          result.skipped.push({ id, why: `its topic ${to} does not exist any more` });
          continue;
        }
        batch.push({ partition, message, to });
        if (batch.length >= batchSize) await send(batch.splice(0), heartbeat);
      }
      await send(batch, heartbeat);
    });
    return result;
  }

  /** One transactional ID per DLQ: a second replay of the same DLQ fences off one still running. */
  private async transactionalProducer(): Promise<Producer> {
    if (this.producer) return this.producer;
    await this.ensureMarkerTopic();
    const producer = this.kafka.producer({ transactionalId: `${this.options.topic}-replay`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    this.producer = producer;
    return producer;
  }

  private async ensureMarkerTopic(): Promise<void> {
    if (!(await this.admin.listTopics()).includes(this.markerTopic)) {
      await this.admin
        .createTopics({ topics: [{ topic: this.markerTopic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }], waitForLeaders: true })
        .catch((err: unknown) => {
          if (!/already exists/i.test(describe(err))) throw err;
        });
    }
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }
}

/** Why a replay transaction failed, as an HdmError; nothing of that transaction reached any consumer. */
function replayFailure(topic: string, err: unknown, brokers: string[]): HdmError {
  const names: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const candidate = e as { name?: string; type?: string; cause?: unknown; originalError?: unknown };
    names.push(candidate.name ?? '', candidate.type ?? '');
    e = candidate.cause ?? candidate.originalError;
  }
  const context = { topic, brokers: brokers.join(',') };
  if (names.some((n) => /FENCED|CONCURRENT_TRANSACTIONS/i.test(n))) {
    return new HdmError('CONFLICT', `another replay of ${topic} started meanwhile and took over; this batch was not replayed (earlier ones were, and are marked: run the replay again to go on): ${describe(err)}`, { context, cause: err });
  }
  if (names.some((n) => /Connection|RequestTimeout|BrokerNotFound/.test(n))) {
    return new HdmError('UNREACHABLE', `Kafka at ${brokers.join(',')} stopped answering while replaying ${topic}; this batch was not replayed (earlier ones were, and are marked: run the replay again to go on): ${describe(err)}`, { context, cause: err });
  }
  return new HdmError('SERVER_ERROR', `Kafka refused the replay of ${topic}; this batch was not replayed (earlier ones were, and are marked: run the replay again to go on): ${describe(err)}`, { context, cause: err });
}

