import { SchemaRegistryClient, SerdeType, SubjectNameStrategyType, AvroSerializer } from '@confluentinc/schemaregistry';
import avro from 'avsc';
import PQueue from 'p-queue';
import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type IHeaders, type KafkaMessage, type Message, type Producer } from 'kafkajs';
import { HdmError } from '../../schemas/errors.ts';
import type { BusMessage, Handler, MessageBus, OutgoingMessage, PublishReceipt, SubscribeOptions, Subscription } from './message-bus.ts';
import { readRanges, topicBounds } from './kafka-reader.ts';

/**
 * The MessageBus on Kafka: values are Avro, framed the Confluent way (magic byte, schema ID) with the
 * schema registered in a schema registry under the TOPIC subject strategy (`<topic>-value`).
 * Offsets are committed only after the handler resolved; a value that cannot be decoded goes to the
 * dead-letter topic with its reason in headers, and its partition keeps flowing.
 */

export interface KafkaBusOptions {
  /** Bootstrap servers, e.g. `['127.0.0.1:9092']`. */
  brokers: string[];
  /** Base URL of a Confluent-compatible schema registry. */
  registryUrl: string;
  /** The Avro schema of each topic's values. */
  schemaFor: (topic: string) => avro.Schema;
  /** Client ID sent to the brokers. Default `hdm`. */
  clientId?: string;
  /** Partitions of the topics the bus creates. Default 16. */
  partitions?: number;
  /** Where undecodable values of a topic go. Default: `hdm.<migration>.dlq` for `hdm.<migration>.<stage>`, else `<topic>.dlq`. */
  deadLetterTopic?: (topic: string) => string;
  /** Milliseconds to wait for Kafka and the registry at start. Default 10000. */
  connectTimeoutMs?: number;
  /** Handled messages after which offsets are committed even mid-batch. Default 100. */
  commitEvery?: number;
  /** Milliseconds publishing waits for an unreachable broker before failing with UNREACHABLE. Default 300000. */
  outageTimeoutMs?: number;
  /** How long a consumer group waits for a silent member before handing its partitions on, in ms. Default 30000. */
  sessionTimeoutMs?: number;
  /** Topics created compacted, with one partition (checkpoints). Default none. */
  compacted?: (topic: string) => boolean;
  /** Lines for the operator about what the bus recovered from by itself (a consumer started again). Default none. */
  log?: (line: string) => void;
}

/** Topic of one stage of one migration, e.g. `hdm.m1.records`. */
export function topicName(migration: string, stage: string): string {
  return `hdm.${migration}.${stage}`;
}

export function defaultDeadLetterTopic(topic: string): string {
  const parts = topic.split('.');
  return parts.length === 3 && parts[0] === 'hdm' ? `hdm.${parts[1]}.dlq` : `${topic}.dlq`;
}

/** Headers a dead-lettered message carries (besides its original ones). */
export const DLQ_HEADERS = {
  stage: 'hdm-dlq-stage',
  code: 'hdm-dlq-error-code',
  reason: 'hdm-dlq-reason',
  message: 'hdm-dlq-error-message',
  topic: 'hdm-dlq-original-topic',
  partition: 'hdm-dlq-original-partition',
  offset: 'hdm-dlq-original-offset',
} as const;

/** Why a value could not be decoded: bytes that are not Avro in the registry's framing, or a writer schema the reader cannot resolve. */
export class PoisonMessageError extends HdmError {
  constructor(
    readonly reason: 'undecodable' | 'schema-incompatible' | 'unknown-schema',
    message: string,
    context: Record<string, unknown>,
    cause?: unknown,
  ) {
    super('INVALID_RECORD', message, { retryable: false, context, cause });
  }
}

export interface KafkaSubscribeOptions<T = unknown> extends SubscribeOptions<T> {
  /** Stage named in the dead-letter headers of this subscription's poison messages. Default: the group. */
  stage?: string;
}

export interface KafkaSubscription extends Subscription {
  /** Rejects when a handler throws; the subscription has then stopped without committing that message. */
  readonly failed: Promise<never>;
}

/** Kafka headers as strings (the first value of a repeated header). */
export function headersOf(raw: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    out[k] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A kafkajs client whose connection attempts give up within `timeoutMs` (5 s at most each). */
export function kafkaClient(clientId: string, brokers: string[], timeoutMs: number, retry: { retries: number; maxRetryTime: number }): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 5000),
    retry: { retries: retry.retries, initialRetryTime: 200, maxRetryTime: retry.maxRetryTime },
  });
}

/** Asks the cluster to describe itself through a throwaway admin client that does not retry; throws what failed within `timeoutMs`. */
export async function probeKafka(clientId: string, brokers: string[], timeoutMs: number): Promise<void> {
  const probe = new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, connectionTimeout: Math.min(timeoutMs, 5000), requestTimeout: timeoutMs, retry: { retries: 0 } }).admin();
  try {
    await withTimeout(
      (async () => {
        await probe.connect();
        await probe.describeCluster();
      })(),
      timeoutMs,
    );
  } finally {
    await probe.disconnect().catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether a kafkajs error (or one it wraps) is a transient broker condition worth waiting out. */
function retriable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const candidate = e as { retriable?: boolean; name?: string; cause?: unknown; originalError?: unknown };
    if (candidate.retriable === true) return true;
    if (candidate.name === 'KafkaJSConnectionError' || candidate.name === 'KafkaJSRequestTimeoutError' || candidate.name === 'KafkaJSBrokerNotFound') return true;
    e = candidate.cause ?? candidate.originalError;
  }
  return false;
}

export class KafkaBus implements MessageBus {
  readonly durable = true;
  private readonly kafka: Kafka;
  private readonly registry: SchemaRegistryClient;
  private readonly admin: Admin;
  private readonly producer: Producer;
  private readonly topics = new Map<string, Promise<void>>();
  private readonly writers = new Map<string, Promise<AvroSerializer>>();
  private readonly readerTypes = new Map<string, avro.Type>();
  private readonly resolvers = new Map<string, Promise<avro.Resolver>>();
  private readonly subscriptions = new Set<KafkaSubscription>();
  private readonly partitions: number;
  private readonly deadLetterTopic: (topic: string) => string;
  private readonly commitEvery: number;

  private constructor(private readonly options: KafkaBusOptions) {
    const timeout = options.connectTimeoutMs ?? 10_000;
    this.kafka = kafkaClient(options.clientId ?? 'hdm', options.brokers, timeout, { retries: 8, maxRetryTime: 5000 });
    this.registry = new SchemaRegistryClient({ baseURLs: [options.registryUrl], maxRetries: 3, retriesWaitMs: 200, retriesMaxWaitMs: 2000, createAxiosDefaults: { timeout } });
    this.admin = this.kafka.admin();
    // Idempotent: a retried send is written once; one request in flight keeps per-key order through retries.
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.partitions = options.partitions ?? 16;
    this.deadLetterTopic = options.deadLetterTopic ?? defaultDeadLetterTopic;
    this.commitEvery = options.commitEvery ?? 100;
  }

  /** Connects to Kafka and the registry; a clear UNREACHABLE error when either does not answer. */
  static async connect(options: KafkaBusOptions): Promise<KafkaBus> {
    const bus = new KafkaBus(options);
    const timeout = options.connectTimeoutMs ?? 10_000;
    try {
      await withTimeout(bus.registry.getAllSubjects(), timeout);
    } catch (err) {
      throw new HdmError('UNREACHABLE', `schema registry at ${options.registryUrl} is unreachable: ${describe(err)}. Start it (npm run services:up) or fix the registry URL.`, {
        context: { registryUrl: options.registryUrl },
        cause: err,
      });
    }
    try {
      await probeKafka('hdm-probe', options.brokers, timeout);
    } catch (err) {
      throw new HdmError('UNREACHABLE', `Kafka at ${options.brokers.join(',')} is unreachable: ${describe(err)}. Start it (npm run services:up) or fix the broker list.`, {
        context: { brokers: options.brokers.join(',') },
        cause: err,
      });
    }
    await bus.admin.connect();
    await bus.producer.connect();
    return bus;
  }

  /**
   * Creates the topic when missing (idempotent, shared by concurrent callers). A compacted topic keeps
   * the latest value of each key (checkpoints) and has one partition.
   */
  ensureTopic(topic: string, options: { compacted?: boolean } = {}): Promise<void> {
    let ready = this.topics.get(topic);
    if (!ready) {
      const spec = options.compacted
        ? { topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }
        : { topic, numPartitions: this.partitions };
      ready = this.untilBrokerAnswers(`creating topic ${topic}`, async () => {
        const existing = await this.admin.listTopics();
        if (!existing.includes(topic)) {
          await this.admin.createTopics({ topics: [spec], waitForLeaders: false }).catch((err: unknown) => {
            if (!/already exists/i.test(describe(err))) throw err;
          });
        }
        // A broker that just (re)started answers metadata before it has caught up with new topics:
        // wait until every partition has a leader (UNKNOWN_TOPIC_OR_PARTITION meanwhile is retriable).
        for (let i = 0; ; i++) {
          const meta = await this.admin.fetchTopicMetadata({ topics: [topic] });
          const partitions = meta.topics[0]?.partitions ?? [];
          if (partitions.length > 0 && partitions.every((p) => p.leader >= 0)) return;
          if (i > 200) throw new HdmError('NOT_READY', `topic ${topic} has partitions without a leader`, { context: { topic } });
          await sleep(100);
        }
      });
      ready.catch(() => this.topics.delete(topic));
      this.topics.set(topic, ready);
    }
    return ready;
  }

  private readerType(topic: string): avro.Type {
    let type = this.readerTypes.get(topic);
    if (!type) {
      type = avro.Type.forSchema(this.options.schemaFor(topic), { wrapUnions: false });
      this.readerTypes.set(topic, type);
    }
    return type;
  }

  /** The topic's serializer, its schema registered under `<topic>-value` (TOPIC strategy, set explicitly). */
  private writer(topic: string): Promise<AvroSerializer> {
    let writer = this.writers.get(topic);
    if (!writer) {
      writer = (async () => {
        const probe = new AvroSerializer(this.registry, SerdeType.VALUE, { subjectNameStrategyType: SubjectNameStrategyType.TOPIC });
        const subject = await probe.subjectName(topic);
        const schema = JSON.stringify(this.readerType(topic).schema({ exportAttrs: true }));
        let id: number;
        const deadline = Date.now() + (this.options.outageTimeoutMs ?? 300_000);
        for (let attempt = 0; ; attempt++) {
          try {
            id = await this.registry.register(subject, { schemaType: 'AVRO', schema });
            break;
          } catch (err) {
            const status = (err as { status?: number }).status;
            // A 4xx is the registry's answer (an incompatible or invalid schema); anything else is an outage to wait out.
            if (status !== undefined && status >= 400 && status < 500) {
              throw new HdmError('REJECTED', `the schema registry refused the schema of ${topic} (subject ${subject}): ${describe(err)}`, { context: { topic, subject }, cause: err });
            }
            if (Date.now() > deadline) {
              throw new HdmError('UNREACHABLE', `the schema registry at ${this.options.registryUrl} did not answer while registering the schema of ${topic}: ${describe(err)}`, {
                context: { topic, subject, registryUrl: this.options.registryUrl },
                cause: err,
              });
            }
            await sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)));
          }
        }
        return new AvroSerializer(this.registry, SerdeType.VALUE, {
          subjectNameStrategyType: SubjectNameStrategyType.TOPIC,
          useSchemaId: id,
          autoRegisterSchemas: false,
          wrapUnions: false,
        });
      })();
      writer.catch(() => this.writers.delete(topic));
      this.writers.set(topic, writer);
    }
    return writer;
  }

  async publish<T>(topic: string, messages: OutgoingMessage<T>[]): Promise<PublishReceipt> {
    if (messages.length === 0) return { settled: Promise.resolve() };
    await this.ensureTopic(topic, { compacted: this.options.compacted?.(topic) });
    const serializer = await this.writer(topic);
    const encoded: Message[] = [];
    for (const m of messages) {
      let value: Buffer;
      try {
        value = await serializer.serialize(topic, m.value);
      } catch (err) {
        throw new HdmError('INVALID_RECORD', `message ${m.key} does not fit the Avro schema of ${topic}: ${describe(err)}`, { context: { topic, recordId: m.key }, cause: err });
      }
      encoded.push({ key: m.key, value, headers: m.headers });
    }
    // acks -1: resolved only once every in-sync replica has the batch.
    await this.untilBrokerAnswers(`publishing to ${topic}`, () => this.producer.send({ topic, messages: encoded, acks: -1 }));
    return { settled: Promise.resolve() };
  }

  /**
   * Runs `action`, waiting out a broker outage (connection refused, timeouts, leader moves) for up to
   * `outageTimeoutMs`; a send retried after an outage may be written twice, which consumers absorb (at least once).
   */
  private async untilBrokerAnswers<R>(what: string, action: () => Promise<R>): Promise<R> {
    const deadline = Date.now() + (this.options.outageTimeoutMs ?? 300_000);
    for (let attempt = 0; ; attempt++) {
      try {
        return await action();
      } catch (err) {
        if (!retriable(err)) throw err;
        if (Date.now() > deadline) {
          throw new HdmError('UNREACHABLE', `Kafka at ${this.options.brokers.join(',')} did not answer while ${what}: ${describe(err)}`, {
            context: { brokers: this.options.brokers.join(',') },
            cause: err,
          });
        }
        await sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  /** Decodes a Confluent-framed Avro value into the topic's reader schema; PoisonMessageError when it cannot. */
  async decode(topic: string, payload: Buffer | null, position: { partition: number; offset: string }): Promise<unknown> {
    const context = { topic, ...position, offset: position.offset };
    if (!payload || payload.length < 5 || payload[0] !== 0) {
      throw new PoisonMessageError('undecodable', `value at ${topic}/${position.partition}@${position.offset} is not Avro in the schema registry's framing (magic byte 0 and a schema ID)`, context);
    }
    const id = payload.readInt32BE(1);
    const resolver = await this.resolver(topic, id, context);
    try {
      return this.readerType(topic).fromBuffer(payload.subarray(5), resolver);
    } catch (err) {
      throw new PoisonMessageError('undecodable', `value at ${topic}/${position.partition}@${position.offset} could not be decoded with schema ${id}: ${describe(err)}`, context, err);
    }
  }

  private resolver(topic: string, id: number, context: Record<string, unknown>): Promise<avro.Resolver> {
    const cacheKey = `${topic}\u0000${id}`;
    let resolver = this.resolvers.get(cacheKey);
    if (!resolver) {
      resolver = (async () => {
        let writerSchema: string;
        for (let attempt = 0; ; attempt++) {
          try {
            writerSchema = (await this.registry.getBySubjectAndId(`${topic}-value`, id)).schema;
            break;
          } catch (err) {
            const status = (err as { status?: number }).status;
            if (status === 404 || status === 422 || (status !== undefined && status >= 400 && status < 500)) {
              throw new PoisonMessageError('unknown-schema', `schema ${id} of the value at ${topic}/${context.partition}@${context.offset} is not in the registry`, { ...context, schemaId: id }, err);
            }
            // The registry is down or slow: wait for it rather than dead-letter a good message.
            if (attempt >= 1000) throw err;
            await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
          }
        }
        const writerType = avro.Type.forSchema(JSON.parse(writerSchema) as avro.Schema, { wrapUnions: false });
        try {
          return this.readerType(topic).createResolver(writerType);
        } catch (err) {
          throw new PoisonMessageError(
            'schema-incompatible',
            `the value at ${topic}/${context.partition}@${context.offset} was written with schema ${id}, which ${topic}'s reader schema cannot read: ${describe(err)}`,
            { ...context, schemaId: id },
            err,
          );
        }
      })();
      resolver.catch(() => this.resolvers.delete(cacheKey));
      this.resolvers.set(cacheKey, resolver);
    }
    return resolver;
  }

  private async deadLetter(topic: string, stage: string, message: KafkaMessage, partition: number, error: HdmError): Promise<void> {
    const dlq = this.deadLetterTopic(topic);
    await this.ensureTopic(dlq);
    const reason = error instanceof PoisonMessageError ? error.reason : 'failed';
    await this.producer.send({
      topic: dlq,
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...(message.headers ?? {}),
            [DLQ_HEADERS.stage]: stage,
            [DLQ_HEADERS.code]: error.code,
            [DLQ_HEADERS.reason]: reason,
            [DLQ_HEADERS.message]: error.message,
            [DLQ_HEADERS.topic]: topic,
            [DLQ_HEADERS.partition]: String(partition),
            [DLQ_HEADERS.offset]: message.offset,
          },
        },
      ],
    });
  }

  /** The latest value of every key in a topic, from its start to the end it had when called (a compacted topic's state). */
  async latest<T>(topic: string): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    const bounds = await this.untilBrokerAnswers(`reading ${topic}`, () => topicBounds(this.admin, topic));
    if (!bounds) return out;
    await readRanges(this.kafka, this.admin, {
      topic,
      bounds,
      ranges: bounds,
      group: 'hdm-reader',
      onMessages: async (partition, messages) => {
        for (const raw of messages) {
          const value = await this.decode(topic, raw.value, { partition, offset: raw.offset });
          if (raw.key) out.set(raw.key.toString('utf8'), value as T);
        }
      },
    });
    return out;
  }

  async subscribe<T>(topic: string, handler: Handler<T>, options: KafkaSubscribeOptions<T>): Promise<KafkaSubscription> {
    await this.ensureTopic(topic);
    const stage = options.stage ?? options.group;
    let consumer!: Consumer;

    let stopping = false;
    let rejectFailed!: (err: unknown) => void;
    const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
    failed.catch(() => undefined);
    let stopped: Promise<void> | null = null;
    const active = new Set<Promise<void>>();
    const stop = () => (stopped ??= (async () => {
      // A restart in progress starts no new member once this is set; wait for it to settle first.
      await restarting;
      await consumer.disconnect().catch(() => undefined);
    })());
    // Messages handled at once across the member's partitions, as on the in-process bus: a partition's
    // messages of different keys run side by side, those of one key one after another.
    const concurrency = Math.max(1, options.concurrency ?? 4);
    const slots = new PQueue({ concurrency });

    type Decoded = { message: BusMessage<T> } | { poison: PoisonMessageError };
    const decodeOne = async (batch: EachBatchPayload['batch'], raw: KafkaMessage): Promise<Decoded> => {
      try {
        const value = await this.decode(batch.topic, raw.value, { partition: batch.partition, offset: raw.offset });
        const message: BusMessage<T> = {
          topic: batch.topic,
          key: raw.key ? raw.key.toString('utf8') : '',
          value: value as T,
          headers: headersOf(raw.headers),
          partition: batch.partition,
          offset: raw.offset,
        };
        return { message };
      } catch (err) {
        if (!(err instanceof PoisonMessageError)) throw err;
        return { poison: err };
      }
    };
    const handleOne = async (batch: EachBatchPayload['batch'], raw: KafkaMessage, decoded: Decoded): Promise<void> => {
      if ('poison' in decoded) await this.deadLetter(batch.topic, stage, raw, batch.partition, decoded.poison);
      else await handler(decoded.message);
    };

    const handleBatch = (owner: Consumer) => async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
      const messages = batch.messages;
      const finished = new Array<boolean>(messages.length).fill(false);
      // Offsets are resolved and committed only over the prefix of the batch that is wholly handled:
      // a message handled beyond a gap is read again after a crash (at least once), never skipped.
      let prefix = 0;
      let sinceCommit = 0;
      let lastHandled: string | null = null;
      let failure: { error: unknown } | null = null;
      let commits: Promise<void> = Promise.resolve();
      const commit = () => {
        const offset = lastHandled;
        if (offset === null) return commits;
        sinceCommit = 0;
        commits = commits.then(() => owner.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(offset) + 1n).toString() }]));
        return commits;
      };
      const advance = () => {
        while (prefix < messages.length && finished[prefix]) {
          resolveOffset(messages[prefix].offset);
          lastHandled = messages[prefix].offset;
          sinceCommit += 1;
          prefix += 1;
        }
        if (sinceCommit >= this.commitEvery) commit().catch(() => undefined);
      };
      const tails = new Map<string, Promise<void>>();
      const tasks: Promise<void>[] = [];
      const halted = () => failure !== null || stopping || !isRunning() || isStale();
      try {
        // Decoded up front so that the subscriber can look ahead over the whole batch.
        const decoded: Decoded[] = [];
        for (const raw of messages) {
          try {
            decoded.push(await decodeOne(batch, raw));
          } catch (err) {
            // Not a bad value but a failure to read any (the registry gone for good): thrown out of the
            // batch it would stall the partition silently; as a handler failure it stops this member.
            failure = { error: err };
            stopping = true;
            break;
          }
        }
        if (options.prefetch) {
          const ready = decoded.flatMap((d) => ('message' in d ? [d.message] : []));
          if (ready.length > 0) await options.prefetch(ready).catch(() => undefined);
        }
        for (let i = 0; i < messages.length && !halted(); i++) {
          // Backpressure: no more queued than can run.
          await slots.onSizeLessThan(concurrency);
          if (halted()) break;
          const raw = messages[i];
          const key = raw.key ? raw.key.toString('utf8') : '';
          const task = (tails.get(key) ?? Promise.resolve()).then(() =>
            slots.add(async () => {
              // After a failure, a close or a rebalance nothing more starts: what has not run stays uncommitted.
              if (halted()) return;
              try {
                await handleOne(batch, raw, decoded[i]);
                finished[i] = true;
                advance();
              } catch (err) {
                failure ??= { error: err };
                stopping = true;
              }
            }),
          );
          tails.set(key, task);
          tasks.push(task);
          await heartbeat();
        }
      } finally {
        // Every task started is waited for, however the loop ended (tasks catch their own failures).
        await Promise.allSettled(tasks);
        // A commit refused during a rebalance only means those messages are handled again (at least once).
        await commit().catch(() => undefined);
        if (failure) {
          // What was handled before the failure is committed first; only then does the member leave.
          rejectFailed((failure as { error: unknown }).error);
          void stop();
        }
      }
    };

    let restarting: Promise<void> = Promise.resolve();
    const start = async (): Promise<void> => {
      const member: Consumer = this.kafka.consumer({
        groupId: options.group,
        allowAutoTopicCreation: false,
        sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
        heartbeatInterval: Math.min(3000, Math.floor((this.options.sessionTimeoutMs ?? 30_000) / 3)),
        rebalanceTimeout: 60_000,
        // kafkajs restarts a crashed consumer only after errors it deems retriable; after the others (a
        // group coordinator not found, say) the consumer stays stopped, and its partitions with it. So the
        // bus restarts every crashed consumer itself, as a new member.
        retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5000, restartOnFailure: async () => false },
      });
      member.on(member.events.CRASH, ({ payload }) => {
        if (stopping || member !== consumer) return;
        this.options.log?.(`consumer of ${topic} (group ${options.group}) stopped after ${describe(payload.error)}; starting a new one`);
        restarting = restartUntilRunning();
      });
      consumer = member;
      await member.connect();
      await member.subscribe({ topics: [topic], fromBeginning: true });
      const eachBatch = handleBatch(member);
      await member.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: concurrency,
        eachBatch: async (payload) => {
          const work = eachBatch(payload);
          active.add(work);
          try {
            await work;
          } finally {
            active.delete(work);
          }
        },
      });
    };
    const restartUntilRunning = async (): Promise<void> => {
      for (let attempt = 0; !stopping; attempt++) {
        await sleep(Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)));
        if (stopping) return;
        await consumer.disconnect().catch(() => undefined);
        try {
          await start();
          return;
        } catch (err) {
          this.options.log?.(`consumer of ${topic} (group ${options.group}) could not start again: ${describe(err)}; retrying`);
        }
      }
    };
    await start();

    const subscription: KafkaSubscription = {
      failed,
      close: async () => {
        // Kafka keeps what was not handled either way: with or without drain, in-flight handlers finish and
        // their offsets are committed before the member leaves; the group's next member reads the rest.
        stopping = true;
        while (active.size > 0) await Promise.allSettled([...active]);
        await stop();
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
    this.registry.close?.();
  }
}

/** The promise, or an error once `ms` passed without it settling. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
