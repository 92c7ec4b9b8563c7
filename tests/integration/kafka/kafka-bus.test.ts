import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HdmError } from '../../../schemas/errors.ts';
import { KafkaBus, topicName, type KafkaBusOptions } from '../../../services/bus/kafka-bus.ts';
import type { BusMessage } from '../../../services/bus/message-bus.ts';
import { ensureKafka, type KafkaInstance } from '../../../tools/launcher/kafka.launcher.ts';
import { freePort } from '../../../tools/launcher/process.ts';
import { ensureSchemaRegistry, type SchemaRegistryInstance } from '../../../tools/launcher/schema-registry.launcher.ts';
import { busRegistrySuite, until, v1, type Step } from './bus-registry-suite.ts';

// The Kafka bus against a real KRaft broker and schema registry, both started by the project's launcher.
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

// Registration, framing, dead letters and schema evolution: the checks every registry must pass (apicurio runs them too).
busRegistrySuite("the project's registry", () => ({ brokers: kafka.brokers, registryUrl: registry.url }));

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

  it('handles different keys of one partition at once, each key in order', async () => {
    const b = await bus({ partitions: 1 });
    const topic = freshTopic('planned');
    const keys = Array.from({ length: 8 }, (_, k) => `k${k}`);
    await b.publish<Step>(topic, Array.from({ length: 5 }, (_, seq) => keys.map((key) => ({ key, value: { id: key, seq } }))).flat());
    let inFlight = 0;
    let most = 0;
    const busy = new Set<string>();
    const seen = new Map<string, number[]>();
    let overlapped = false;
    const sub = await b.subscribe<Step>(
      topic,
      async (m) => {
        if (busy.has(m.key)) overlapped = true;
        busy.add(m.key);
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 30));
        seen.set(m.key, [...(seen.get(m.key) ?? []), m.value.seq]);
        inFlight -= 1;
        busy.delete(m.key);
      },
      { group: `${topic}.loader`, concurrency: 6 },
    );
    await until(() => [...seen.values()].reduce((n, l) => n + l.length, 0) >= 40);
    await sub.close();
    expect(overlapped).toBe(false);
    expect(most).toBe(6);
    for (const key of keys) expect(seen.get(key)).toEqual([0, 1, 2, 3, 4]);
  });

  it('after a failure commits only up to the first message not handled, however many after it were', async () => {
    const b = await bus({ partitions: 1 });
    const topic = freshTopic('planned');
    const group = `${topic}.loader`;
    // One partition, keys a and b alternating: b's messages after a's failing one are handled meanwhile.
    await b.publish<Step>(topic, Array.from({ length: 20 }, (_, seq) => ({ key: seq % 2 === 0 ? 'a' : 'b', value: { id: 'x', seq } })));
    const first: number[] = [];
    const a = await b.subscribe<Step>(
      topic,
      async (m) => {
        if (m.value.seq === 6) {
          await new Promise((r) => setTimeout(r, 300));
          throw new Error('loader crashed');
        }
        first.push(m.value.seq);
      },
      { group, concurrency: 4 },
    );
    await expect(a.failed).rejects.toThrow('loader crashed');
    await a.close({ drain: false });
    expect(first.filter((seq) => seq < 6)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(first.some((seq) => seq > 6)).toBe(true);
    expect(first).not.toContain(8);

    const second: number[] = [];
    const next = await b.subscribe<Step>(topic, async (m) => void second.push(m.value.seq), { group });
    await until(() => second.length >= 14);
    await new Promise((r) => setTimeout(r, 500));
    await next.close();
    expect(second).toEqual(Array.from({ length: 14 }, (_, i) => i + 6));
  });

  // A crashed consumer is started again by the bus, not left to kafkajs, which restarts only after errors
  // it deems retriable (a chaos run once waited for ever on a mapper that consumed no KB article).
  it('starts a new member after its consumer crashed, and the topic carries on', async () => {
    const topic = freshTopic('records');
    const publisher = await bus();
    await publisher.publish<Step>(topic, [{ key: 'k0', value: { id: 'x', seq: 0 } }]);
    const lines: string[] = [];
    const consumer = await bus({ log: (line) => lines.push(line) });
    const seen = new Set<number>();
    const sub = await consumer.subscribe<Step>(topic, async (m) => void seen.add(m.value.seq), { group: `${topic}.mapper` });
    await until(() => seen.size >= 1);
    // The topic goes away under the idle consumer and comes back.
    const admin = raw().admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] });
    await until(() => lines.length > 0, 120_000);
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] });
    await admin.disconnect();
    const again = await bus();
    await again.publish<Step>(topic, Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: { id: 'x', seq: i + 1 } })));
    await until(() => seen.size >= 6, 120_000);
    await sub.close();
    expect(lines.join('\n')).toContain(`consumer of ${topic} (group ${topic}.mapper) stopped after`);
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
