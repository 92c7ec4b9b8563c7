import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { HdmError } from '../../schemas/errors.ts';

/**
 * Reading a topic once, up to an end fixed beforehand (the dead-letter queue, the poller's compacted
 * checkpoints): no offsets are committed, and the throw-away consumer group is deleted afterwards.
 */

/** Offsets `[from, to)` of one partition. */
export type Range = { from: bigint; to: bigint };

/** Each partition's [low, high) offsets, or null when the topic does not exist. */
export async function topicBounds(admin: Admin, topic: string): Promise<Map<number, Range> | null> {
  if (!(await admin.listTopics()).includes(topic)) return null;
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, { from: BigInt(o.low), to: BigInt(o.high) }]));
}

export interface ReadRangesOptions {
  topic: string;
  /** The topic's partitions and their offsets (from `topicBounds`). */
  bounds: Map<number, Range>;
  /** What to read of each partition; partitions absent here are skipped. */
  ranges: Map<number, Range>;
  onMessages(partition: number, messages: KafkaMessage[], heartbeat: () => Promise<void>): Promise<void>;
  /** Prefix of the throw-away consumer group's ID. */
  group: string;
  /** Milliseconds without progress after which the read fails with TIMEOUT. Default 30000. */
  stallTimeoutMs?: number;
}

/**
 * Reads `ranges` of a topic once, through a consumer group of its own that never commits and is deleted
 * afterwards (kafkajs has no group-less consumer). Ends when every range is read up to its end, which
 * was fixed by the caller: messages arriving meanwhile are not part of this read.
 */
export async function readRanges(kafka: Kafka, admin: Admin, options: ReadRangesOptions): Promise<void> {
  const { topic, bounds, ranges, onMessages } = options;
  const pending = new Map([...ranges].filter(([, r]) => r.from < r.to));
  if (pending.size === 0) return;
  // Nothing is committed, so a rejoin after a rebalance may deliver a partition from its start again: each
  // message is handed on once, from where the previous batch ended.
  const next = new Map([...pending].map(([p, r]) => [p, r.from]));
  const groupId = `${options.group}-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250, sessionTimeout: 10_000, heartbeatInterval: 1000 });
  let settle!: (err?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
  let finished = false;
  const finish = (err?: unknown) => {
    if (finished) return;
    finished = true;
    settle(err);
  };
  let lastProgress = Date.now();
  const advance = (partition: number, position: bigint) => {
    const range = pending.get(partition);
    lastProgress = Date.now();
    if (range && position >= range.to) pending.delete(partition);
    if (pending.size === 0) finish();
  };
  const stallMs = options.stallTimeoutMs ?? 30_000;
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress > stallMs) {
      finish(new HdmError('TIMEOUT', `reading ${topic} made no progress for ${Math.round(stallMs / 1000)} s (partitions left: ${[...pending.keys()].join(', ')})`, { context: { topic } }));
    }
  }, 500);
  try {
    // Batches made only of transaction markers never reach eachBatch; this event still reports how far they went.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic === topic) advance(payload.partition, BigInt(payload.lastOffset) + 1n);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) finish(payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, heartbeat }) => {
        if (finished) return;
        const range = pending.get(batch.partition);
        if (!range) return;
        const from = next.get(batch.partition) ?? range.from;
        const wanted = batch.messages.filter((m) => BigInt(m.offset) >= from && BigInt(m.offset) < range.to);
        try {
          if (wanted.length > 0) {
            // A long batch (many replay transactions) is progress too, for the group and for the watchdog.
            await onMessages(batch.partition, wanted, async () => {
              lastProgress = Date.now();
              await heartbeat();
            });
            next.set(batch.partition, BigInt(wanted[wanted.length - 1]!.offset) + 1n);
          }
        } catch (err) {
          finish(err);
          return;
        }
        advance(batch.partition, BigInt(batch.lastOffset()) + 1n);
      },
    });
    for (const [partition, b] of bounds) {
      consumer.seek({ topic, partition, offset: String(pending.get(partition)?.from ?? b.to) });
    }
    await done;
  } finally {
    clearInterval(watchdog);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
