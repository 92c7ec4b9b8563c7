import type avro from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaBus, topicName } from '../../../services/bus/kafka-bus.ts';
import { ensureKafka } from '../../../tools/launcher/kafka.launcher.ts';
import { destroySchemaRegistry, ensureSchemaRegistry } from '../../../tools/launcher/schema-registry.launcher.ts';

// The registry stops answering while a consumer still has to look schemas up: it waits, nothing is dead-lettered.
const name = `outage-test-${process.pid}`;
const schema: avro.Schema = { type: 'record', name: 'Tock', namespace: 'test.outage', fields: [{ name: 'n', type: 'int' }] };
const buses: KafkaBus[] = [];
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await destroySchemaRegistry({ name });
});

describe('KafkaBus while the schema registry is down', () => {
  it('waits for the registry instead of dead-lettering good messages', async () => {
    const [kafka, registry] = await Promise.all([ensureKafka(), ensureSchemaRegistry({ name })]);
    const options = { brokers: kafka.brokers, registryUrl: registry.url, schemaFor: () => schema, partitions: 2 };
    const producer = await KafkaBus.connect(options);
    buses.push(producer);
    const topic = topicName(`outage${process.pid}x${Date.now().toString(36)}`, 'records');
    await producer.publish(topic, Array.from({ length: 20 }, (_, n) => ({ key: `k${n % 4}`, value: { n } })));

    // A fresh bus has no schema cached: every lookup needs the registry.
    const consumer = await KafkaBus.connect(options);
    buses.push(consumer);
    await registry.stop();
    const seen: number[] = [];
    const sub = await consumer.subscribe<{ n: number }>(topic, async (m) => void seen.push(m.value.n), { group: `${topic}.g` });
    await new Promise((r) => setTimeout(r, 4000));
    expect(seen).toEqual([]);
    await ensureSchemaRegistry({ name });
    const deadline = Date.now() + 60_000;
    while (seen.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await sub.close();
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, n) => n));

    const admin = new Kafka({ clientId: 'outage-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.disconnect();
    expect(topics).not.toContain(topic.replace(/\.records$/, '.dlq'));
  }, 300_000);
});
