import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { stringify } from 'yaml';
import { startSandboxProcess, type SandboxProcess } from '../services/cli/sandbox-process.ts';
import { ensureClickHouse } from '../tools/launcher/clickhouse.launcher.ts';
import { ensureKafka } from '../tools/launcher/kafka.launcher.ts';
import { ensureSchemaRegistry } from '../tools/launcher/schema-registry.launcher.ts';
import { appendReport, benchArgs, HDM, machineLine  } from './common.ts';

/**
 * `npm run bench -- cluster [--tickets 3000] [--partitions 8]`: the same full migration embedded, in
 * cluster mode with one and with two loaders, and raw kafkajs moving the same messages (count and
 * bytes copied from the cluster run's topics) through Kafka — as ratios, in one run, on one machine.
 */

interface Row {
  mode: string;
  seconds: number;
  recordsPerSecond: number;
  note: string;
}

function spawnHdm(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string }> } {
  const child = spawn(process.execPath, [HDM, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) =>
    child.once('exit', (code) => {
      if (code !== 0 && code !== null && !child.killed) process.stderr.write(`bench: hdm ${args.join(' ')} exited ${code}:\n${stderr.slice(-3000)}\n`);
      resolve({ code, stdout });
    }),
  );
  return { child, done };
}

export async function main(argv: string[]): Promise<void> {
  const values = benchArgs(
    argv,
    {
      tickets: { type: 'string', default: '3000' },
      partitions: { type: 'string', default: '8' },
      'no-record': { type: 'boolean', default: false },
    },
    'npm run bench -- cluster [--tickets 3000] [--partitions 8] [--no-record]\n' +
      'Embedded vs cluster (1 and 2 loaders) vs raw kafkajs, one run; records results in docs/benchmarks.md.\n',
  );
  if (!values) return;
  const tickets = Number(values.tickets);
  const partitions = Number(values.partitions);
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  log('starting Kafka, the schema registry and the ClickHouse HTTP stand-in…');
  const [kafka, registry, clickhouse] = await Promise.all([ensureKafka(), ensureSchemaRegistry(), ensureClickHouse({ name: 'bench' })]);
  const source = await startSandboxProcess('zendesk', { tickets, seed: 1, requestsPerMinute: null, maxOldSpaceMb: 12_000 });
  const dir = mkdtempSync(join(tmpdir(), 'hdm-bench-cluster-'));
  const stamp = Date.now().toString(36);
  const rows: Row[] = [];
  let canonical = 0;
  let clusterOneName = '';
  try {
    const migration = async (mode: string, loaders: number | null): Promise<Row> => {
      const target: SandboxProcess = await startSandboxProcess('freshdesk', { tickets: 0, seed: 2, requestsPerMinute: null, maxOldSpaceMb: 12_000 });
      const name = `bench${stamp}${mode.replace(/\W/g, '')}`;
      const configFile = join(dir, `${name}.yaml`);
      const base = {
        name,
        source: { platform: 'zendesk', url: source.url, concurrency: 16 },
        target: { platform: 'freshdesk', url: target.url, concurrency: 16 },
        stateDir: join(dir, name),
      };
      const clusterConfig =
        loaders === null
          ? {}
          : {
              ledger: { clickhouseUrl: clickhouse.url, database: name },
              cluster: { brokers: kafka.brokers, registryUrl: registry.url, partitions },
            };
      writeFileSync(configFile, stringify({ ...base, ...clusterConfig }));
      const env = { ...process.env, ...source.env, ...target.env };
      try {
        log(`${mode}…`);
        if (loaders === null) {
          const started = performance.now();
          const run = await spawnHdm(['migrate', '-c', configFile, '--json', '--no-progress', '--no-verify'], env).done;
          const seconds = (performance.now() - started) / 1000;
          if (run.code !== 0) throw new Error(`embedded migrate exited ${run.code}`);
          canonical = JSON.parse(run.stdout).canonicalRecords;
          return { mode, seconds, recordsPerSecond: Math.round(canonical / seconds), note: 'hdm migrate, embedded bus and ledger (chdb in process)' };
        }
        const workers = [spawnHdm(['serve', 'mapper', '-c', configFile], env), ...Array.from({ length: loaders }, () => spawnHdm(['serve', 'loader', '-c', configFile], env))];
        const started = performance.now();
        const poller = await spawnHdm(['serve', 'poller', '-c', configFile, '--json'], env).done;
        const seconds = (performance.now() - started) / 1000;
        for (const w of workers) w.child.kill('SIGTERM');
        await Promise.all(workers.map((w) => w.done));
        if (poller.code !== 0) throw new Error(`poller exited ${poller.code}`);
        if (loaders === 1) clusterOneName = name;
        return {
          mode,
          seconds,
          recordsPerSecond: Math.round(canonical / seconds),
          note: `hdm serve poller + mapper + ${loaders} loader${loaders > 1 ? 's' : ''}, ${partitions} partitions, ledger on the ClickHouse HTTP stand-in`,
        };
      } finally {
        await target.close();
      }
    };
    const measured = (row: Row) => {
      log(`${row.mode}: ${row.seconds.toFixed(1)} s (${row.note})`);
      rows.push(row);
    };
    measured(await migration('embedded', null));
    measured(await migration('cluster, 1 loader', 1));
    measured(await migration('cluster, 2 loaders', 2));
    measured(await rawKafka(kafka.brokers, `hdm.${clusterOneName}.`, partitions, log));
  } finally {
    await source.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const embedded = rows[0].seconds;
  const raw = rows[3].seconds;
  const machine = machineLine();
  const date = new Date().toISOString().slice(0, 10);
  const table = [
    '| mode | seconds | canonical records/s | time ÷ embedded | time ÷ raw kafkajs | what ran |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.mode} | ${r.seconds.toFixed(1)} | ${r.mode.startsWith('raw') ? '—' : r.recordsPerSecond} | ${(r.seconds / embedded).toFixed(2)} | ${(r.seconds / raw).toFixed(1)} | ${r.note} |`),
  ].join('\n');
  process.stdout.write(`${machine}\n${table}\n`);
  if (!values['no-record']) {
    const block = `\n### ${date} · \`npm run bench -- cluster --tickets ${tickets} --partitions ${partitions}\`\nMachine: ${machine}. Zendesk sandbox with ${tickets} tickets (${canonical} canonical records) into an empty Freshdesk sandbox, each run into a fresh one.\n\n${table}\n`;
    appendReport(block);
    log('recorded in docs/benchmarks.md');
  }
}

/**
 * Copies every message the cluster run wrote to its records and planned topics (values, keys, sizes), then
 * times plain kafkajs producing them to a fresh topic (idempotent, acks all, batches of up to 500 messages or 512 KB) while one
 * consumer group reads them back: the floor the bus stands on.
 */
async function rawKafka(brokers: string[], prefix: string, partitions: number, log: (line: string) => void): Promise<Row> {
  const kafka = new Kafka({ clientId: 'hdm-bench', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix) && /\.(records|planned)-/.test(t));
  let expected = 0;
  for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) expected += Number(p.high) - Number(p.low);
  log(`raw kafkajs: copying ${expected} messages from ${topics.length} topics…`);
  const messages: { key: Buffer | null; value: Buffer | null }[] = [];
  const copier = kafka.consumer({ groupId: `hdm-bench-copy-${Date.now()}` });
  await copier.connect();
  await copier.subscribe({ topics, fromBeginning: true });
  await new Promise<void>((resolve) => {
    void copier.run({
      eachMessage: async ({ message }) => {
        messages.push({ key: message.key, value: message.value });
        if (messages.length >= expected) resolve();
      },
    });
  });
  await copier.disconnect();
  const bytes = messages.reduce((n, m) => n + (m.value?.length ?? 0), 0);

  const topic = `hdm-bench-raw-${Date.now()}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let consumed = 0;
  const allConsumed = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async () => {
        consumed += 1;
        if (consumed >= messages.length) resolve();
      },
    });
  });
  const started = performance.now();
  // Batches of up to 500 messages or 512 KB, under the broker's 1 MB request limit.
  let batch: typeof messages = [];
  let batchBytes = 0;
  for (const m of messages) {
    batch.push(m);
    batchBytes += (m.value?.length ?? 0) + (m.key?.length ?? 0);
    if (batch.length >= 500 || batchBytes >= 512 * 1024) {
      await producer.send({ topic, acks: -1, messages: batch });
      batch = [];
      batchBytes = 0;
    }
  }
  if (batch.length > 0) await producer.send({ topic, acks: -1, messages: batch });
  await allConsumed;
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([producer.disconnect(), consumer.disconnect()]);
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  return {
    mode: 'raw kafkajs',
    seconds,
    recordsPerSecond: Math.round(messages.length / seconds),
    note: `${messages.length} messages, ${Math.round(bytes / Math.max(1, messages.length))} bytes on average (the cluster run's records and planned topics), produced and consumed by one group: ${Math.round(messages.length / seconds)} messages/s`,
  };
}
