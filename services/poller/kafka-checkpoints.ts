import { HdmError } from '../../schemas/errors.ts';
import type { CheckpointData, CheckpointStore } from './checkpoint-store.ts';
import type { KafkaBus } from '../bus/kafka-bus.ts';

const KEY = 'poller';

/**
 * The poller's checkpoints in a compacted Kafka topic (one key, the latest value kept), so that a
 * poller restarted on any machine resumes where the last one's published records end. `save`
 * resolves once the broker has acknowledged the value.
 */
export class KafkaCheckpointStore implements CheckpointStore {
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: KafkaBus,
    readonly topic: string,
  ) {}

  async load(): Promise<CheckpointData> {
    await this.bus.ensureTopic(this.topic, { compacted: true });
    const value = (await this.bus.latest<{ json: string }>(this.topic)).get(KEY);
    if (!value) return { full: null };
    try {
      return JSON.parse(value.json) as CheckpointData;
    } catch (err) {
      throw new HdmError('INVALID_RECORD', `the checkpoint in ${this.topic} is not valid JSON: ${(err as Error).message}`, { context: { topic: this.topic }, cause: err });
    }
  }

  save(data: CheckpointData): Promise<void> {
    const json = JSON.stringify(data);
    // Saves go out one after another, so the topic's last value is the last save.
    this.writing = this.writing.then(async () => {
      await this.bus.publish(this.topic, [{ key: KEY, value: { json, savedAt: new Date().toISOString() } }]);
    });
    return this.writing;
  }
}
