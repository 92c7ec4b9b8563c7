/**
 * The bus between poller, mapper and loader. Services see only this interface; the in-process
 * implementation and the Kafka adapter live beside it.
 */
export interface BusMessage<T = unknown> {
  topic: string;
  /** Messages with the same key are delivered in publish order. */
  key: string;
  value: T;
  headers: Record<string, string>;
  /** Transport position, when the transport has one (Kafka partition/offset). */
  partition?: number;
  offset?: string;
}

export interface OutgoingMessage<T = unknown> {
  key: string;
  value: T;
  headers?: Record<string, string>;
}

export interface PublishOptions {
  /** The message being handled that caused these; lets a non-durable bus track completion. */
  parent?: BusMessage;
}

export interface PublishReceipt {
  /**
   * Resolves when each message and everything published because of it has been handled.
   * On a durable bus (Kafka) it resolves once the broker has acknowledged the messages.
   */
  settled: Promise<void>;
}

export interface SubscribeOptions<T = unknown> {
  /** Consumer group; members of one group share the topic's partitions. */
  group: string;
  /** Messages handled at once, across partitions and within one; never two of one key. Default 4. */
  concurrency?: number;
  /**
   * Told of a batch of messages before any of them is handled, to look up in one go what they will
   * need. A failure only loses the look-ahead. Default none. The Kafka bus calls it per fetched batch;
   * the in-process bus does not (its publisher holds the page and can look ahead itself).
   */
  prefetch?(messages: BusMessage<T>[]): Promise<void>;
}

export type Handler<T> = (message: BusMessage<T>) => Promise<void>;

export interface Subscription {
  /**
   * Stops consuming once in-flight handlers finish. With `drain: false` (after a failure) messages
   * not yet handled are left unconsumed, to be read again by the next run. Default: drain.
   */
  close(options?: { drain?: boolean }): Promise<void>;
}

export interface MessageBus {
  /** Whether a published message survives this process (Kafka) or not (in-process). */
  readonly durable: boolean;
  /** Resolves once the messages are accepted; waits while the topic is full (backpressure). */
  publish<T>(topic: string, messages: OutgoingMessage<T>[], options?: PublishOptions): Promise<PublishReceipt>;
  /**
   * Handles messages; a message counts as consumed only after its handler resolves.
   * A handler that throws stops the subscription and surfaces through `failed`.
   */
  subscribe<T>(topic: string, handler: Handler<T>, options: SubscribeOptions<T>): Promise<Subscription>;
  close(): Promise<void>;
}
