import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import type avro from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HdmError } from '../../../connectors/sdk/errors.ts';
import { DLQ_HEADERS, KafkaBus, topicName, type KafkaBusOptions } from '../../../services/bus/kafka-bus.ts';
import type { BusMessage } from '../../../services/bus/message-bus.ts';
import { ensureKafka, type KafkaInstance } from '../../../services/launcher/kafka.launcher.ts';
import { freePort } from '../../../services/launcher/process.ts';
import { ensureSchemaRegistry, type SchemaRegistryInstance } from '../../../services/launcher/schema-registry.launcher.ts';

// The Kafka bus against a real KRaft broker and schema registry, both started by the project's launcher.
interface Step {
  id: string;
  seq: number;
}
interface StepV2 extends Step {
  note: string;
}
const v1: avro.Schema = { type: 'record', name: 'Step', namespace: 'test.bus', fields: [{ name: 'id', type: 'string' }, { name: 'seq', type: 'int' }] };
const v2: avro.Schema = { ...v1, fields: [...(v1 as { fields: object[] }).fields, { name: 'note', type: 'string', default: 'none' }] } as avro.Schema;

let kafka: KafkaInstance;
let registry: SchemaRegistryInstance;
const buses: KafkaBus[] = [];
const run = `t${process.pid}x${Date.now().toString(36)}`;
let n = 0;
const freshTopic = (stage: string) => topicName(`${run}${n++}`, stage);

beforeAll(async () => {
  [kafka, registry] = await Promise.all([ensureKafka(), ensureSchemaRegistry()]);
}, 300_000);
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
});

async function bus(options: Partial<KafkaBusOptions> = {}): Promise<KafkaBus> {
  const b = await KafkaBus.connect({ brokers: kafka.brokers, registryUrl: registry.url, schemaFor: () => v1, partitions: 4, ...options });
  buses.push(b);
  return b;
}

async function until(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const raw = () => new Kafka({ clientId: 'bus-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING });

describe('KafkaBus', () => {
  it('delivers each key in publish order, with headers and positions', async () => {
    const b = await bus();
    const topic = freshTopic('records');
    for (let batch = 0; batch < 5; batch++) {
      const messages = [];
      for (const key of ['a', 'b', 'c']) for (let i = 0; i < 10; i++) messages.push({ key, value: { id: key, seq: batch * 10 + i }, headers: { run } });
      await b.publish<Step>(topic, messages);
    }
    const seen = new Map<string, number[]>();
    const got: BusMessage<Step>[] = [];
    const sub = await b.subscribe<Step>(
      topic,
      async (m) => {
        got.push(m);
        seen.set(m.key, [...(seen.get(m.key) ?? []), m.value.seq]);
      },
      { group: `${topic}.g` },
    );
    await until(() => got.length >= 150);
    await sub.close();
    const expected = Array.from({ length: 50 }, (_, i) => i);
    for (const key of ['a', 'b', 'c']) expect(seen.get(key)).toEqual(expected);
    expect(got.every((m) => m.headers.run === run && typeof m.partition === 'number' && m.offset !== undefined)).toBe(true);
    expect(got.length).toBe(150);
  });

  it('commits only after the handler: a failed message is read again by the next member of the group', async () => {
    const b = await bus();
    const topic = freshTopic('planned');
    await b.publish<Step>(topic, Array.from({ length: 20 }, (_, seq) => ({ key: 'one-key', value: { id: 'x', seq } })));
    const first: number[] = [];
    const a = await b.subscribe<Step>(
      topic,
      async (m) => {
        if (m.value.seq === 10) throw new Error('loader crashed');
        first.push(m.value.seq);
      },
      { group: `${topic}.loader` },
    );
    await expect(a.failed).rejects.toThrow('loader crashed');
    await a.close({ drain: false });
    expect(first).toEqual(Array.from({ length: 10 }, (_, i) => i));

    const second: number[] = [];
    const next = await b.subscribe<Step>(topic, async (m) => void second.push(m.value.seq), { group: `${topic}.loader` });
    await until(() => second.length >= 10);
    await new Promise((r) => setTimeout(r, 500));
    await next.close();
    expect(second).toEqual(Array.from({ length: 10 }, (_, i) => i + 10));
  });

  it('close without drain lets the in-flight handler finish, commits it, and leaves the rest to the next member', async () => {
    const b = await bus();
    const topic = freshTopic('loaded');
    const group = `${topic}.loader`;
    await b.publish<Step>(topic, Array.from({ length: 12 }, (_, seq) => ({ key: 'one-key', value: { id: 'x', seq } })));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const atThree = new Promise<void>((r) => (reached = r));
    const first: number[] = [];
    const sub = await b.subscribe<Step>(
      topic,
      async (m) => {
        if (m.value.seq === 3) {
          reached();
          await gate;
        }
        first.push(m.value.seq);
      },
      { group },
    );
    await atThree;
    const closing = sub.close({ drain: false });
    release();
    await closing;
    expect(first).toEqual([0, 1, 2, 3]);
    const second: number[] = [];
    const next = await b.subscribe<Step>(topic, async (m) => void second.push(m.value.seq), { group });
    await until(() => second.length >= 8);
    await new Promise((r) => setTimeout(r, 500));
    await next.close();
    expect(second).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('shares partitions between two members of one group without losing or duplicating', async () => {
    const b = await bus();
    const topic = freshTopic('mapped');
    const group = `${topic}.loaders`;
    await b.ensureTopic(topic);
    const byMember: Record<string, string[]> = { one: [], two: [] };
    const subOne = await b.subscribe<Step>(topic, async (m) => void byMember.one.push(`${m.key}:${m.value.seq}`), { group });
    const subTwo = await b.subscribe<Step>(topic, async (m) => void byMember.two.push(`${m.key}:${m.value.seq}`), { group });
    const admin = raw().admin();
    await admin.connect();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { groups } = await admin.describeGroups([group]);
      if (groups[0].state === 'Stable' && groups[0].members.length === 2 && groups[0].members.every((m) => m.memberAssignment.length > 0)) break;
      if (Date.now() > deadline) throw new Error('group never became stable with two members');
      await new Promise((r) => setTimeout(r, 200));
    }
    await admin.disconnect();
    const sent: string[] = [];
    const messages = [];
    for (let k = 0; k < 20; k++) for (let seq = 0; seq < 10; seq++) {
      messages.push({ key: `key-${k}`, value: { id: `key-${k}`, seq } });
      sent.push(`key-${k}:${seq}`);
    }
    await b.publish<Step>(topic, messages);
    await until(() => byMember.one.length + byMember.two.length >= sent.length);
    await new Promise((r) => setTimeout(r, 1000));
    await Promise.all([subOne.close(), subTwo.close()]);
    const all = [...byMember.one, ...byMember.two];
    expect(all.length).toBe(sent.length);
    expect(new Set(all)).toEqual(new Set(sent));
    expect(byMember.one.length).toBeGreaterThan(0);
    expect(byMember.two.length).toBeGreaterThan(0);
    // A key lives on one partition, so only one member ever sees it.
    const keysOf = (list: string[]) => new Set(list.map((s) => s.split(':')[0]));
    const overlap = [...keysOf(byMember.one)].filter((k) => keysOf(byMember.two).has(k));
    expect(overlap).toEqual([]);
  });

  it('sends undecodable and schema-incompatible values to the dead-letter topic and keeps the partition flowing', async () => {
    const b = await bus();
    const topic = freshTopic('records');
    const dlq = topic.replace(/\.records$/, '.dlq');
    await b.publish<Step>(topic, [{ key: 'k', value: { id: 'before', seq: 1 } }]);
    const client = new SchemaRegistryClient({ baseURLs: [registry.url] });
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
    const producer = raw().producer();
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

    const consumer = raw().consumer({ groupId: `${dlq}.reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: dlq, fromBeginning: true });
    const dead: { value: Buffer | null; headers: Record<string, string> }[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        dead.push({ value: message.value, headers });
      },
    });
    await until(() => dead.length >= 3);
    await consumer.disconnect();
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
    expect(unregistered.headers).toMatchObject({ [DLQ_HEADERS.reason]: 'unknown-schema', [DLQ_HEADERS.offset]: '3' });
    expect(Number(undecodable.headers[DLQ_HEADERS.partition])).toBe(Number(incompatible.headers[DLQ_HEADERS.partition]));
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
    const client = new SchemaRegistryClient({ baseURLs: [registry.url] });
    expect(await client.getAllVersions(`${topic}-value`)).toEqual([1, 2]);

    const breaking = await bus({ schemaFor: () => ({ ...v1, fields: [{ name: 'id', type: 'string' }, { name: 'seq', type: 'int' }, { name: 'must', type: 'long' }] }) as avro.Schema });
    const err = await breaking.publish(topic, [{ key: 'k', value: { id: 'x', seq: 3, must: 1 } }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HdmError);
    expect((err as HdmError).code).toBe('REJECTED');
    expect((err as HdmError).message).toContain(`${topic}-value`);
  });

  it('fails fast with a clear error when Kafka or the registry does not answer', async () => {
    const deadPort = await freePort();
    const noKafka = await KafkaBus.connect({ brokers: [`127.0.0.1:${deadPort}`], registryUrl: registry.url, schemaFor: () => v1, connectTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect(noKafka).toBeInstanceOf(HdmError);
    expect((noKafka as HdmError).code).toBe('UNREACHABLE');
    expect((noKafka as HdmError).message).toContain(`Kafka at 127.0.0.1:${deadPort} is unreachable`);
    const noRegistry = await KafkaBus.connect({ brokers: kafka.brokers, registryUrl: `http://127.0.0.1:${deadPort}`, schemaFor: () => v1, connectTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect((noRegistry as HdmError).code).toBe('UNREACHABLE');
    expect((noRegistry as HdmError).message).toContain(`schema registry at http://127.0.0.1:${deadPort} is unreachable`);
  });
});
