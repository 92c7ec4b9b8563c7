import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyKafka, ensureKafka, kafkaHealthy } from '../../../tools/launcher/kafka.launcher.ts';

// The launcher against the real Kafka jars: format, start, reuse the running broker, keep data across a restart, stop.
const name = `launcher-test-${process.pid}`;
afterAll(() => destroyKafka({ name }));

describe('Kafka launcher', () => {
  it('starts a KRaft broker once, reuses it, keeps its topics across a restart, stops', async () => {
    const first = await ensureKafka({ name });
    expect(existsSync(join(first.dir, 'data', 'meta.properties'))).toBe(true);
    expect(await kafkaHealthy(first.port)).toBe(true);

    const again = await ensureKafka({ name });
    expect(again.pid).toBe(first.pid);
    expect(again.timings.startMs).toBe(0);
    expect(again.timings.formatMs).toBe(0);

    const kafka = new Kafka({ clientId: 'launcher-test', brokers: first.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'launcher-probe', numPartitions: 3 }], waitForLeaders: true });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic: 'launcher-probe', messages: [{ key: 'k', value: 'kept' }] });
    await producer.disconnect();
    await admin.disconnect();

    await first.stop();
    expect(await kafkaHealthy(first.port, 1000)).toBe(false);

    const restarted = await ensureKafka({ name });
    expect(restarted.pid).not.toBe(first.pid);
    expect(restarted.timings.formatMs).toBe(0);
    const admin2 = kafka.admin();
    await admin2.connect();
    const meta = await admin2.fetchTopicMetadata({ topics: ['launcher-probe'] });
    expect(meta.topics[0].partitions).toHaveLength(3);
    const offsets = await admin2.fetchTopicOffsets('launcher-probe');
    expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBe(1);
    await admin2.disconnect();
    // On a fresh machine the first start resolves the jars with Maven (about a minute).
  }, 300_000);
});
