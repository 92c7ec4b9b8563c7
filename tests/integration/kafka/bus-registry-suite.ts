import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import avro from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { HdmError } from '../../../schemas/errors.ts';
import { DLQ_HEADERS, KafkaBus, topicName, type KafkaBusOptions } from '../../../services/bus/kafka-bus.ts';

/**
 * What the Kafka bus needs from its schema registry, asserted identically on each Confluent-compatible
 * registry it runs against. `servers()` is read inside the tests, after the caller's `beforeAll` started them.
 */
export interface Servers {
  brokers: string[];
  registryUrl: string;
}

export interface Step {
  id: string;
  seq: number;
}
interface StepV2 extends Step {
  note: string;
}
const step = (fields: object[]) => ({ type: 'record', name: 'Step', namespace: 'test.bus', fields: [{ name: 'id', type: 'string' }, { name: 'seq', type: 'int' }, ...fields] }) as avro.Schema;
export const v1 = step([]);
const v2 = step([{ name: 'note', type: 'string', default: 'none' }]);
/** A new field without a default: readers of it cannot read old values. */
const breaking = step([{ name: 'must', type: 'long' }]);

export async function until(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every raw message of a topic (key, value bytes, headers as strings), read until `count` arrived. */
export async function readRaw(brokers: string[], topic: string, count: number): Promise<{ key: string; value: Buffer | null; headers: Record<string, string> }[]> {
  const consumer = new Kafka({ clientId: 'bus-test', brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: `${topic}.raw-${Date.now().toString(36)}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got: { key: string; value: Buffer | null; headers: Record<string, string> }[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      got.push({ key: message.key?.toString() ?? '', value: message.value, headers });
    },
  });
  await until(() => got.length >= count);
  await consumer.disconnect();
  return got;
}

export function busRegistrySuite(registry: string, servers: () => Servers): void {
  const buses: KafkaBus[] = [];
  const run = `r${process.pid}x${Date.now().toString(36)}`;
  let n = 0;
  const freshTopic = (stage: string) => topicName(`${run}${n++}`, stage);
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
  });

  async function bus(options: Partial<KafkaBusOptions> = {}): Promise<KafkaBus> {
    const { brokers, registryUrl } = servers();
    const b = await KafkaBus.connect({ brokers, registryUrl, schemaFor: () => v1, partitions: 4, ...options });
    buses.push(b);
    return b;
  }

  describe(`KafkaBus with ${registry}`, () => {
    it('registers the value schema under <topic>-value and frames each value with its ID', async () => {
      const b = await bus();
      const topic = freshTopic('records');
      await b.publish<Step>(topic, [
        { key: 'a', value: { id: 'a', seq: 1 } },
        { key: 'b', value: { id: 'b', seq: 2 } },
      ]);
      const client = new SchemaRegistryClient({ baseURLs: [servers().registryUrl] });
      const latest = await client.getLatestSchemaMetadata(`${topic}-value`);
      expect(avro.Type.forSchema(JSON.parse(latest.schema!)).schema()).toEqual(avro.Type.forSchema(v1).schema());
      const raw = await readRaw(servers().brokers, topic, 2);
      for (const m of raw) {
        expect(m.value![0]).toBe(0);
        expect(m.value!.readInt32BE(1)).toBe(latest.id);
      }
      const got: Step[] = [];
      const sub = await b.subscribe<Step>(topic, async (m) => void got.push({ ...m.value }), { group: `${topic}.g` });
      await until(() => got.length >= 2);
      await sub.close();
      expect(got.sort((x, y) => x.seq - y.seq)).toEqual([
        { id: 'a', seq: 1 },
        { id: 'b', seq: 2 },
      ]);
    });

    it('sends undecodable and schema-incompatible values to the dead-letter topic and keeps the partition flowing', async () => {
      const { brokers, registryUrl } = servers();
      const b = await bus();
      const topic = freshTopic('records');
      const dlq = topic.replace(/\.records$/, '.dlq');
      await b.publish<Step>(topic, [{ key: 'k', value: { id: 'before', seq: 1 } }]);
      const client = new SchemaRegistryClient({ baseURLs: [registryUrl] });
      const foreignId = await client.register(`${topic}-foreign-value`, {
        schemaType: 'AVRO',
        schema: JSON.stringify({ type: 'record', name: 'Step', namespace: 'test.bus', fields: [{ name: 'id', type: 'int' }] }),
      });
      const framed = Buffer.alloc(6);
      framed[0] = 0;
      framed.writeInt32BE(foreignId, 1);
      framed[5] = 0x54; // zig-zag 42
      const unknown = Buffer.from(framed);
      unknown.writeInt32BE(2_000_000_000, 1);
      const producer = new Kafka({ clientId: 'bus-test', brokers, logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
      await producer.send({ topic, messages: [
        { key: 'k', value: Buffer.from('{"id":"not avro"}'), headers: { origin: 'json-producer' } },
        { key: 'k', value: framed },
        { key: 'k', value: unknown },
      ] });
      await producer.disconnect();
      await b.publish<Step>(topic, [{ key: 'k', value: { id: 'after', seq: 2 } }]);

      const handled: string[] = [];
      const sub = await b.subscribe<Step>(topic, async (m) => void handled.push(m.value.id), { group: `${topic}.mapper`, stage: 'mapper' });
      await until(() => handled.length >= 2);
      await sub.close();
      expect(handled).toEqual(['before', 'after']);

      const dead = await readRaw(brokers, dlq, 3);
      const [undecodable, incompatible, unregistered] = dead;
      expect(undecodable.value?.toString()).toBe('{"id":"not avro"}');
      expect(undecodable.headers).toMatchObject({
        origin: 'json-producer',
        [DLQ_HEADERS.stage]: 'mapper',
        [DLQ_HEADERS.code]: 'INVALID_RECORD',
        [DLQ_HEADERS.reason]: 'undecodable',
        [DLQ_HEADERS.topic]: topic,
        [DLQ_HEADERS.offset]: '1',
      });
      expect(undecodable.headers[DLQ_HEADERS.message]).toMatch(/not Avro/);
      expect(incompatible.value?.equals(framed)).toBe(true);
      expect(incompatible.headers).toMatchObject({ [DLQ_HEADERS.reason]: 'schema-incompatible', [DLQ_HEADERS.offset]: '2' });
      expect(incompatible.headers[DLQ_HEADERS.message]).toContain(`schema ${foreignId}`);
      expect(unregistered.value?.equals(unknown)).toBe(true);
      expect(unregistered.headers).toMatchObject({ [DLQ_HEADERS.reason]: 'unknown-schema', [DLQ_HEADERS.offset]: '3' });
      expect(unregistered.headers[DLQ_HEADERS.message]).toContain('schema 2000000000');
      expect(Number(undecodable.headers[DLQ_HEADERS.partition])).toBe(Number(incompatible.headers[DLQ_HEADERS.partition]));
      expect(dead).toHaveLength(3);
    });

    it('evolves a topic backward-compatibly and refuses an incompatible schema', async () => {
      const topic = freshTopic('records');
      const old = await bus({ schemaFor: () => v1 });
      await old.publish<Step>(topic, [{ key: 'k', value: { id: 'old', seq: 1 } }]);
      const evolved = await bus({ schemaFor: () => v2 });
      await evolved.publish<StepV2>(topic, [{ key: 'k', value: { id: 'new', seq: 2, note: 'hello' } }]);
      const got: StepV2[] = [];
      const sub = await evolved.subscribe<StepV2>(topic, async (m) => void got.push({ ...m.value }), { group: `${topic}.g` });
      await until(() => got.length >= 2);
      await sub.close();
      expect(got).toEqual([
        { id: 'old', seq: 1, note: 'none' },
        { id: 'new', seq: 2, note: 'hello' },
      ]);
      const client = new SchemaRegistryClient({ baseURLs: [servers().registryUrl] });
      expect(await client.getAllVersions(`${topic}-value`)).toEqual([1, 2]);

      const breaker = await bus({ schemaFor: () => breaking });
      const err = await breaker.publish(topic, [{ key: 'k', value: { id: 'x', seq: 3, must: 1 } }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HdmError);
      expect((err as HdmError).code).toBe('REJECTED');
      expect((err as HdmError).message).toContain(`${topic}-value`);
      expect(await client.getAllVersions(`${topic}-value`)).toEqual([1, 2]);
    });
  });
}
