import { HdmError } from '../../schemas/errors.ts';
import type {
  BusMessage,
  Handler,
  MessageBus,
  OutgoingMessage,
  PublishOptions,
  PublishReceipt,
  SubscribeOptions,
  Subscription,
} from './message-bus.ts';

export interface InProcessBusOptions {
  /** Partitions per topic; each is handled in order. Default 16. */
  partitions?: number;
  /** Messages a partition holds before publishers wait. Default 64. */
  partitionCapacity?: number;
}

/** Counts a message's own handling plus everything published because of it. */
class Completion {
  private pending = 1;
  private failed = false;
  readonly settled: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;

  constructor(private readonly parent: Completion | undefined) {
    this.settled = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.settled.catch(() => undefined);
    parent?.addChild();
  }

  addChild(): void {
    this.pending += 1;
  }

  done(): void {
    this.pending -= 1;
    if (this.pending === 0 && !this.failed) {
      this.resolve();
      this.parent?.done();
    }
  }

  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.reject(err);
    this.parent?.fail(err);
  }
}

interface Entry {
  message: BusMessage;
  completion: Completion;
}

class Partition {
  readonly queue: Entry[] = [];
  private spaceWaiters: (() => void)[] = [];
  private dataWaiter: (() => void) | null = null;

  constructor(private readonly capacity: number) {}

  async push(entry: Entry): Promise<void> {
    while (this.queue.length >= this.capacity) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    this.queue.push(entry);
    const waiter = this.dataWaiter;
    this.dataWaiter = null;
    waiter?.();
  }

  /** Drops what is queued (their publishers' completions never settle: nothing was handled). */
  clear(): void {
    this.queue.length = 0;
    for (const waiter of this.spaceWaiters.splice(0)) waiter();
  }

  async take(stopped: () => boolean): Promise<Entry | null> {
    while (this.queue.length === 0) {
      if (stopped()) return null;
      await new Promise<void>((resolve) => (this.dataWaiter = resolve));
    }
    const entry = this.queue.shift()!;
    this.spaceWaiters.shift()?.();
    return entry;
  }

  wake(): void {
    const waiter = this.dataWaiter;
    this.dataWaiter = null;
    waiter?.();
  }
}

class Topic {
  readonly partitions: Partition[];
  subscribed = false;
  constructor(count: number, capacity: number) {
    this.partitions = Array.from({ length: count }, () => new Partition(capacity));
  }
}

/** Bounded, per-key ordered, in-memory bus for the embedded deployment. Not durable. */
export class InProcessBus implements MessageBus {
  readonly durable = false;
  private readonly topics = new Map<string, Topic>();
  private readonly completions = new WeakMap<BusMessage, Completion>();
  private readonly partitionCount: number;
  private readonly capacity: number;
  private readonly subscriptions = new Set<Subscription>();

  constructor(options: InProcessBusOptions = {}) {
    this.partitionCount = options.partitions ?? 16;
    this.capacity = options.partitionCapacity ?? 64;
  }

  private topic(name: string): Topic {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = new Topic(this.partitionCount, this.capacity);
      this.topics.set(name, topic);
    }
    return topic;
  }

  async publish<T>(topicName: string, messages: OutgoingMessage<T>[], options: PublishOptions = {}): Promise<PublishReceipt> {
    const topic = this.topic(topicName);
    const parent = options.parent ? this.completions.get(options.parent) : undefined;
    const settled: Promise<void>[] = [];
    for (const outgoing of messages) {
      const partition = hashKey(outgoing.key) % topic.partitions.length;
      const message: BusMessage<T> = { topic: topicName, key: outgoing.key, value: outgoing.value, headers: outgoing.headers ?? {}, partition };
      const completion = new Completion(parent);
      this.completions.set(message, completion);
      settled.push(completion.settled);
      await topic.partitions[partition].push({ message, completion });
    }
    const all = Promise.all(settled).then(() => undefined);
    all.catch(() => undefined);
    return { settled: all };
  }

  async subscribe<T>(topicName: string, handler: Handler<T>, options: SubscribeOptions<T>): Promise<Subscription> {
    const topic = this.topic(topicName);
    if (topic.subscribed) {
      throw new HdmError('INTERNAL', `topic ${topicName} already has a consumer; the in-process bus serves one consumer group per topic`, {
        context: { topic: topicName },
      });
    }
    topic.subscribed = true;
    let stopped = false;
    let slots = options.concurrency ?? 4;
    const slotWaiters: (() => void)[] = [];
    const acquire = async () => {
      while (slots === 0) await new Promise<void>((resolve) => slotWaiters.push(resolve));
      slots -= 1;
    };
    const release = () => {
      slots += 1;
      slotWaiters.shift()?.();
    };
    const loops = topic.partitions.map(async (partition) => {
      for (;;) {
        const entry = await partition.take(() => stopped);
        if (!entry) return;
        await acquire();
        try {
          await handler(entry.message as BusMessage<T>);
          entry.completion.done();
        } catch (err) {
          entry.completion.fail(err);
        } finally {
          release();
        }
      }
    });
    const subscription: Subscription = {
      close: async (options = {}) => {
        stopped = true;
        for (const partition of topic.partitions) {
          if (options.drain === false) partition.clear();
          partition.wake();
        }
        await Promise.all(loops);
        topic.subscribed = false;
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.close()));
  }
}

/** FNV-1a: stable across processes, so a key lands on the same partition every run. */
export function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
