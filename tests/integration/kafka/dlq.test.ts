import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import avro from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { HdmError } from '../../../schemas/errors.ts';
import { DLQ_HEADERS, KafkaBus, topicName } from '../../../services/bus/kafka-bus.ts';
import { deadLetterTopicOf, KafkaDeadLetterQueue, REPLAYED_FROM_HEADER, type DeadLetter } from '../../../services/bus/kafka-dlq.ts';
import type { BusMessage } from '../../../services/bus/message-bus.ts';
import { ensureKafka, type KafkaInstance } from '../../../tools/launcher/kafka.launcher.ts';
import { freePort } from '../../../tools/launcher/process.ts';
import { ensureSchemaRegistry, type SchemaRegistryInstance } from '../../../tools/launcher/schema-registry.launcher.ts';
import { hdm } from '../../helpers/hdm-process.ts';

// Dead letters listed and replayed against a real KRaft broker and schema registry started by the launchers.
interface Step {
  id: string;
  seq: number;
}
const v1: avro.Schema = { type: 'record', name: 'Step', namespace: 'test.dlq', fields: [{ name: 'id', type: 'string' }, { name: 'seq', type: 'int' }] };
/** The consumer after its upgrade: reads values that lack `seq`. */
const upgraded: avro.Schema = { type: 'record', name: 'Step', namespace: 'test.dlq', fields: [{ name: 'id', type: 'string' }, { name: 'seq', type: 'int', default: -1 }] };
/** What a foreign producer wrote: no `seq`, so the v1 reader cannot resolve it. */
const foreign: avro.Schema = { type: 'record', name: 'Step', namespace: 'test.dlq', fields: [{ name: 'id', type: 'string' }] };

let kafka: KafkaInstance;
let registry: SchemaRegistryInstance;
const closers: (() => Promise<void>)[] = [];
const run = `dlq${process.pid}x${Date.now().toString(36)}`;
let n = 0;
const freshMigration = () => `${run}-${n++}`;

beforeAll(async () => {
  [kafka, registry] = await Promise.all([ensureKafka(), ensureSchemaRegistry()]);
}, 300_000);
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
});

async function bus(schema: avro.Schema = v1): Promise<KafkaBus> {
  const b = await KafkaBus.connect({ brokers: kafka.brokers, registryUrl: registry.url, schemaFor: () => schema, partitions: 2 });
  closers.push(() => b.close());
  return b;
}

async function queue(migration: string, batchSize?: number): Promise<KafkaDeadLetterQueue> {
  const q = await KafkaDeadLetterQueue.connect({ brokers: kafka.brokers, topic: deadLetterTopicOf(migration), batchSize });
  closers.push(() => q.close());
  return q;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const raw = () => new Kafka({ clientId: 'dlq-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING });

/** Sum of the high watermarks of a topic: grows with every message (and transaction marker) written. */
async function endOf(topic: string): Promise<bigint> {
  const admin = raw().admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + BigInt(p.high), 0n);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Between two good values: bytes that are not Avro, and a value whose writer schema the v1 reader cannot
 * resolve. A v1 subscriber then dead-letters both and handles the good ones.
 */
async function poison(migration: string, group: string): Promise<{ topic: string; foreignValue: Buffer; handled: string[] }> {
  const b = await bus();
  const topic = topicName(migration, 'records');
  await b.publish<Step>(topic, [{ key: 'k', value: { id: 'before', seq: 1 } }]);
  const client = new SchemaRegistryClient({ baseURLs: [registry.url] });
  const foreignId = await client.register(`${topic}-foreign-value`, { schemaType: 'AVRO', schema: JSON.stringify(foreign) });
  const body = avro.Type.forSchema(foreign).toBuffer({ id: 'w1' });
  const frame = Buffer.alloc(5);
  frame.writeInt32BE(foreignId, 1);
  const foreignValue = Buffer.concat([frame, body]);
  const producer = raw().producer();
  await producer.connect();
  await producer.send({
    topic,
    messages: [
      { key: 'k', value: Buffer.from('{"id":"not avro"}'), headers: { origin: 'json-producer' } },
      { key: 'k', value: foreignValue },
    ],
  });
  await producer.disconnect();
  await b.publish<Step>(topic, [{ key: 'k', value: { id: 'after', seq: 2 } }]);
  const handled: string[] = [];
  const sub = await b.subscribe<Step>(topic, async (m) => void handled.push(m.value.id), { group, stage: 'mapper' });
  await until(() => handled.length >= 2);
  await sub.close();
  return { topic, foreignValue, handled };
}

describe('dead letters: list and replay', () => {
  it('lists poison letters with their headers, replays them once after the fix, and dry runs send nothing', async () => {
    const migration = freshMigration();
    const group = `${migration}.mapper`;
    const { topic, foreignValue, handled } = await poison(migration, group);
    // The partition kept flowing past both poison values.
    expect(handled).toEqual(['before', 'after']);

    // One letter per transaction, so the replay below takes more than one.
    const q = await queue(migration, 1);
    const listed = await q.list();
    expect(listed.topic).toBe(`hdm.${migration}.dlq`);
    expect(listed.matched).toBe(2);
    const [json, incompatible] = listed.letters as [DeadLetter, DeadLetter];
    expect(json).toMatchObject({
      key: 'k',
      size: Buffer.byteLength('{"id":"not avro"}'),
      stage: 'mapper',
      code: 'INVALID_RECORD',
      reason: 'undecodable',
      original: { topic, offset: '1' },
      replayed: null,
      replayedFrom: null,
    });
    expect(json.message).toMatch(/not Avro/);
    expect(json.headers.origin).toBe('json-producer');
    expect(json.headers[DLQ_HEADERS.offset]).toBe('1');
    expect(json.id).toBe(`${json.partition}:${json.offset}`);
    expect(Number.isNaN(Date.parse(json.timestamp))).toBe(false);
    expect(incompatible).toMatchObject({ reason: 'schema-incompatible', size: foreignValue.length, original: { topic, partition: json.original.partition, offset: '2' } });

    expect((await q.list({ reason: 'schema-incompatible' })).letters.map((l) => l.id)).toEqual([incompatible.id]);
    expect((await q.list({ stage: 'loader' })).letters).toEqual([]);
    const first = await q.list({ limit: 1 });
    expect(first.letters.map((l) => l.id)).toEqual([json.id]);
    expect(first.matched).toBe(2);
    expect((await q.list({ since: new Date(Date.now() + 3_600_000) })).letters).toEqual([]);

    // A dry run selects both and writes nothing anywhere.
    const before = await endOf(topic);
    const dry = await q.replay({ offsets: 'all', dryRun: true });
    expect(dry.replayed.map((r) => r.id)).toEqual([json.id, incompatible.id]);
    expect(await endOf(topic)).toBe(before);
    expect((await q.list()).letters.every((l) => l.replayed === null)).toBe(true);

    const replayed = await q.replay({ offsets: 'all' });
    expect(replayed.replayed.map((r) => [r.id, r.to.topic])).toEqual([
      [json.id, topic],
      [incompatible.id, topic],
    ]);
    expect(replayed.alreadyReplayed).toBe(0);
    // Replaying all again sends nothing: both are marked (the consumer below sees each copy once).
    const again = await q.replay({ offsets: 'all' });
    expect(again.replayed).toEqual([]);
    expect(again.alreadyReplayed).toBe(2);
    // So does a replay from another process, which knows only the marker topic.
    const other = await queue(migration);
    expect(await other.replay({ offsets: 'all' })).toMatchObject({ replayed: [], alreadyReplayed: 2 });
    const marked = await q.list();
    expect(marked.letters.map((l) => [l.id, l.replayed?.topic, l.replayed?.offset])).toEqual(
      replayed.replayed.map((r) => [r.id, topic, r.to.offset]),
    );

    // The upgraded consumer (same group, so only what came after) reads the formerly incompatible value;
    // the JSON bytes are still poison and go back to the DLQ as a new letter naming where they came from.
    const fixed = await bus(upgraded);
    await fixed.publish<Step>(topic, [{ key: 'k', value: { id: 'sentinel', seq: 3 } }]);
    const got: BusMessage<Step>[] = [];
    const sub = await fixed.subscribe<Step>(topic, async (m) => void got.push(m), { group, stage: 'mapper' });
    await until(() => got.some((m) => m.value.id === 'sentinel'));
    await sub.close();
    expect(got.map((m) => ({ ...m.value }))).toEqual([
      { id: 'w1', seq: -1 },
      { id: 'sentinel', seq: 3 },
    ]);
    expect(got[0]!.headers[REPLAYED_FROM_HEADER]).toBe(`hdm.${migration}.dlq:${incompatible.id}`);
    expect(Object.keys(got[0]!.headers).filter((h) => h.startsWith('hdm-dlq-') && h !== REPLAYED_FROM_HEADER)).toEqual([]);

    const relisted = await q.list();
    expect(relisted.matched).toBe(3);
    const back = relisted.letters[2]!;
    expect(back).toMatchObject({ reason: 'undecodable', replayedFrom: `hdm.${migration}.dlq:${json.id}`, replayed: null, original: { topic, offset: replayed.replayed[0]!.to.offset } });
    expect(back.headers.origin).toBe('json-producer');

    // Named letters are replayed even when replayed before; a bare offset is enough when one partition holds it.
    const named = await q.replay({ offsets: [incompatible.offset] });
    expect(named.replayed.map((r) => r.id)).toEqual([incompatible.id]);
    expect(named.replayed[0]!.previously?.offset).toBe(replayed.replayed[1]!.to.offset);
    const missing = await q.replay({ offsets: ['0:999999'] }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(HdmError);
    expect((missing as HdmError).code).toBe('NOT_FOUND');
  });

  it('lists nothing, promptly, for a DLQ that does not exist or is empty', async () => {
    const migration = freshMigration();
    const q = await queue(migration);
    expect(await q.list()).toEqual({ topic: `hdm.${migration}.dlq`, letters: [], matched: 0 });
    expect((await q.replay({ offsets: 'all' })).replayed).toEqual([]);
    const admin = raw().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: deadLetterTopicOf(migration), numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    expect((await q.list()).letters).toEqual([]);
    expect((await q.replay({ offsets: 'all' })).replayed).toEqual([]);
  });

  it('hdm dlq list --json prints the letters; unreachable brokers and a missing broker list fail clearly', async () => {
    const migration = freshMigration();
    await poison(migration, `${migration}.mapper`);
    const dir = mkdtempSync(join(tmpdir(), 'hdm-dlq-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const base = { name: migration, source: { platform: 'zendesk', url: 'https://acme.zendesk.com' }, target: { platform: 'freshdesk', url: 'https://acme.freshdesk.com' } };
    const file = join(dir, 'cluster.yaml');
    writeFileSync(file, stringify({ ...base, cluster: { brokers: kafka.brokers, registryUrl: registry.url } }));
    const env = { ...process.env };
    delete env.HDM_KAFKA_BROKERS;

    const listed = await hdm(['dlq', 'list', '-c', file, '--json'], env);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const letters = JSON.parse(listed.stdout) as DeadLetter[];
    expect(letters.map((l) => [l.reason, l.stage, l.original.topic])).toEqual([
      ['undecodable', 'mapper', topicName(migration, 'records')],
      ['schema-incompatible', 'mapper', topicName(migration, 'records')],
    ]);

    const dry = await hdm(['dlq', 'replay', '-c', file, '--all', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run: would replay 2 dead letters');

    const deadPort = await freePort();
    const unreachable = await hdm(['dlq', 'list', '-c', file, '--brokers', `127.0.0.1:${deadPort}`], env);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain(`UNREACHABLE: Kafka at 127.0.0.1:${deadPort} is unreachable`);
    expect(unreachable.stderr).toContain('npm run services:up -- kafka schema-registry');

    const bare = join(dir, 'embedded.yaml');
    writeFileSync(bare, stringify(base));
    const none = await hdm(['dlq', 'list', '-c', bare], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no Kafka brokers');
    const fromEnv = await hdm(['dlq', 'list', '-c', bare, '--json'], { ...env, HDM_KAFKA_BROKERS: kafka.brokers.join(',') });
    expect(fromEnv.code).toBe(0);
    expect((JSON.parse(fromEnv.stdout) as DeadLetter[]).length).toBe(2);
  });
});
