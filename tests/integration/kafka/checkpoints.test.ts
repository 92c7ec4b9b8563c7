import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaCheckpointStore } from '../../../services/poller/kafka-checkpoints.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import { CHECKPOINTS_STAGE, openClusterBus, type MigrationBus } from '../../../services/cluster/cluster.ts';
import { ensureKafka } from '../../../tools/launcher/kafka.launcher.ts';
import { ensureSchemaRegistry } from '../../../tools/launcher/schema-registry.launcher.ts';
import type { CheckpointData } from '../../../services/poller/checkpoint-store.ts';

describe('poller checkpoints in a compacted Kafka topic', () => {
  let settings: { brokers: string[]; registryUrl: string; partitions: number };
  const config = parseMigrationConfig({
    name: `ckpt${Date.now().toString(36)}`,
    source: { platform: 'zendesk', url: 'http://127.0.0.1:1' },
    target: { platform: 'freshdesk', url: 'http://127.0.0.1:2' },
  });
  const buses: MigrationBus[] = [];
  const open = async () => {
    const bus = await openClusterBus(config, settings);
    buses.push(bus);
    return new KafkaCheckpointStore(bus.kafka, bus.topic(CHECKPOINTS_STAGE));
  };

  beforeAll(async () => {
    const [kafka, registry] = await Promise.all([ensureKafka(), ensureSchemaRegistry()]);
    settings = { brokers: kafka.brokers, registryUrl: registry.url, partitions: 4 };
  }, 300_000);
  afterAll(async () => {
    await Promise.allSettled(buses.map((b) => b.close()));
  });

  it('starts empty, and a new process reads back the last of many saves', async () => {
    const first = await open();
    expect(await first.load()).toEqual({ full: null });
    let last: CheckpointData = { full: null };
    for (let page = 1; page <= 25; page++) {
      last = {
        full: { runId: 'full-1', status: page === 25 ? 'done' : 'running', startedAt: '2026-11-29T00:00:00.000Z', streams: { ticket: { state: { cursor: `c${page}`, coveredUntil: `2026-11-29T00:00:${String(page).padStart(2, '0')}.000Z` }, done: page === 25 } } },
      };
      await first.save(last);
    }
    // Another process (another bus and consumer) sees the latest value of the topic.
    const second = await open();
    expect(await second.load()).toEqual(last);

    const admin = new Kafka({ brokers: settings.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const topic = buses[0].topic(CHECKPOINTS_STAGE);
      const meta = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }], includeSynonyms: false });
      expect(meta.resources[0].configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue).toBe('compact');
      expect((await admin.fetchTopicOffsets(topic)).length).toBe(1);
    } finally {
      await admin.disconnect();
    }
  });
});
