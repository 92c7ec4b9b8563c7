import type avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaBus, topicName } from '../../../services/bus/kafka-bus.ts';
import { destroyKafka, ensureKafka } from '../../../tools/launcher/kafka.launcher.ts';
import { ensureSchemaRegistry } from '../../../tools/launcher/schema-registry.launcher.ts';

// A broker restart in the middle of a run: publishers and subscribers wait for it and carry on.
const name = `restart-test-${process.pid}`;
const schema: avro.Schema = { type: 'record', name: 'Tick', namespace: 'test.restart', fields: [{ name: 'n', type: 'int' }] };
let bus: KafkaBus | null = null;
afterAll(async () => {
  await bus?.close();
  await destroyKafka({ name });
});

describe('KafkaBus across a broker restart', () => {
  it('delivers everything published before, during and after the restart, once committed', async () => {
    const [kafka, registry] = await Promise.all([ensureKafka({ name }), ensureSchemaRegistry()]);
    bus = await KafkaBus.connect({ brokers: kafka.brokers, registryUrl: registry.url, schemaFor: () => schema, partitions: 2 });
    const topic = topicName(`restart${process.pid}`, 'records');
    const seen: number[] = [];
    const sub = await bus.subscribe<{ n: number }>(topic, async (m) => void seen.push(m.value.n), { group: `${topic}.g` });
    await bus.publish(topic, Array.from({ length: 10 }, (_, n) => ({ key: `k${n % 3}`, value: { n } })));
    const deadline = Date.now() + 60_000;
    while (seen.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(seen.length).toBe(10);

    await kafka.stop();
    // Published while the broker is down: resolves once it is back.
    const during = bus.publish(topic, Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 3}`, value: { n: 10 + i } })));
    await new Promise((r) => setTimeout(r, 2000));
    await ensureKafka({ name });
    await during;
    await bus.publish(topic, Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 3}`, value: { n: 20 + i } })));
    const deadline2 = Date.now() + 120_000;
    while (new Set(seen).size < 30 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 100));
    await sub.close();
    expect([...new Set(seen)].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, n) => n));
  }, 300_000);
});
