import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaBus, topicName } from '../../../services/bus/kafka-bus.ts';
import { apicurioHealthy, destroyApicurio, ensureApicurio, type ApicurioInstance } from '../../../tools/launcher/apicurio.launcher.ts';
import { ensureKafka, type KafkaInstance } from '../../../tools/launcher/kafka.launcher.ts';
import { busRegistrySuite, until, v1, type Step } from './bus-registry-suite.ts';

// The Kafka bus against Apicurio Registry, a third-party Confluent-compatible registry built from
// Maven Central by its launcher, on an instance of its own that this file removes afterwards.
const name = `bus-test-${process.pid}`;
let kafka: KafkaInstance;
let apicurio: ApicurioInstance;

beforeAll(async () => {
  [kafka, apicurio] = await Promise.all([ensureKafka(), ensureApicurio({ name })]);
}, 600_000);
afterAll(() => destroyApicurio({ name }), 60_000);

busRegistrySuite('Apicurio Registry', () => ({ brokers: kafka.brokers, registryUrl: apicurio.url }));

describe('Apicurio launcher', () => {
  it('reuses a running instance and enforces BACKWARD compatibility by default', async () => {
    const again = await ensureApicurio({ name });
    expect(again.pid).toBe(apicurio.pid);
    expect(again.timings.startMs).toBe(0);
    const res = await fetch(`${apicurio.url}/config`);
    expect(await res.json()).toEqual({ compatibilityLevel: 'BACKWARD' });
  });

  it('keeps schemas and their IDs across a restart, so old messages still decode', async () => {
    const topic = topicName(`apicurio${process.pid}x${Date.now().toString(36)}`, 'records');
    const before = await KafkaBus.connect({ brokers: kafka.brokers, registryUrl: apicurio.url, schemaFor: () => v1, partitions: 2 });
    await before.publish<Step>(topic, [{ key: 'k', value: { id: 'kept', seq: 7 } }]);
    await before.close();
    const id = (await new SchemaRegistryClient({ baseURLs: [apicurio.url] }).getLatestSchemaMetadata(`${topic}-value`)).id!;

    await apicurio.stop();
    expect(await apicurioHealthy(apicurio.url, 500)).toBe(false);
    const restarted = await ensureApicurio({ name });
    expect(restarted.url).toBe(apicurio.url);
    expect(restarted.pid).not.toBe(apicurio.pid);
    apicurio = restarted;

    // Fresh clients: nothing cached, every schema comes from the restarted registry.
    const client = new SchemaRegistryClient({ baseURLs: [restarted.url] });
    expect(await client.getAllSubjects()).toContain(`${topic}-value`);
    expect(await client.register(`${topic}-value`, { schemaType: 'AVRO', schema: (await client.getBySubjectAndId(`${topic}-value`, id)).schema })).toBe(id);
    const after = await KafkaBus.connect({ brokers: kafka.brokers, registryUrl: restarted.url, schemaFor: () => v1, partitions: 2 });
    try {
      const got: Step[] = [];
      const sub = await after.subscribe<Step>(topic, async (m) => void got.push({ ...m.value }), { group: `${topic}.g` });
      await until(() => got.length >= 1);
      await sub.close();
      expect(got).toEqual([{ id: 'kept', seq: 7 }]);
    } finally {
      await after.close();
    }
  }, 180_000);
});
