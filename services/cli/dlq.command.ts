import { InvalidArgumentError, Option, type Command } from 'commander';
import { HdmError } from '../../schemas/errors.ts';
import type { MigrationConfig } from '../../schemas/config.ts';
import { deadLetterTopicOf, KafkaDeadLetterQueue, type DeadLetter, type ListResult, type ReplayResult } from '../bus/kafka-dlq.ts';
import { loadConfigOrFail, stdio, type Output } from './commands.ts';

/** Where the brokers come from, first found wins: `--brokers`, HDM_KAFKA_BROKERS, the file's `cluster.brokers`. */
export function brokersOf(config: Readonly<MigrationConfig>, file: string, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const split = (text: string) => text.split(',').map((b) => b.trim()).filter(Boolean);
  const fromFlag = flag ? split(flag) : [];
  if (fromFlag.length) return fromFlag;
  const fromEnv = env.HDM_KAFKA_BROKERS ? split(env.HDM_KAFKA_BROKERS) : [];
  if (fromEnv.length) return fromEnv;
  if (config.cluster?.brokers.length) return [...config.cluster.brokers];
  throw new HdmError('CONFIG_INVALID', `no Kafka brokers for migration ${config.name}: pass --brokers host:port, set HDM_KAFKA_BROKERS, or add cluster.brokers to ${file}`, {
    context: { field: 'cluster.brokers' },
  });
}

/** `2024-05-01T10:00:00Z`, or a span back from now: `30m`, `2h`, `7d`. */
export function sinceOf(text: string, now = Date.now()): Date {
  const span = /^(\d+)(m|h|d)$/.exec(text.trim());
  if (span) return new Date(now - Number(span[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[span[2] as 'm' | 'h' | 'd']);
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) throw new InvalidArgumentError(`"${text}" is neither a time (2024-05-01T10:00:00Z) nor a span back from now (30m, 2h, 7d)`);
  return at;
}

function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

export function formatLetters(result: ListResult): string {
  if (result.letters.length === 0) return `no dead letters in ${result.topic}`;
  const rows = result.letters.map((l: DeadLetter) => [
    l.id,
    l.timestamp.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    l.stage ?? '-',
    l.reason ?? '-',
    l.original.topic ? `${l.original.topic}/${l.original.partition ?? '?'}@${l.original.offset ?? '?'}` : '-',
    l.replayed ? 'yes' : l.replayedFrom ? 'again' : '-',
    truncate(l.message ?? '', 80),
  ]);
  const header = ['offset', 'time', 'stage', 'reason', 'original', 'replayed', 'error'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const lines = [line(header), ...rows.map(line)];
  if (result.matched > result.letters.length) lines.push(`… ${result.matched - result.letters.length} more (raise --limit)`);
  lines.push('', `${result.matched} dead letter${result.matched === 1 ? '' : 's'} in ${result.topic}; "again" marks a replay that failed once more. Replay: hdm dlq replay --offset <offset> | --all`);
  return lines.join('\n');
}

export function formatReplay(result: ReplayResult): string {
  const lines: string[] = [];
  const verb = result.dryRun ? 'would replay' : 'replayed';
  for (const r of result.replayed) {
    const where = r.to.partition !== undefined ? `${r.to.topic}/${r.to.partition}@${r.to.offset}` : r.to.topic;
    lines.push(`${verb} ${r.id} (${r.reason ?? 'no reason'}, key ${r.key ?? '-'}) → ${where}${r.previously ? `, replayed before at ${r.previously.at}` : ''}`);
  }
  for (const s of result.skipped) lines.push(`skipped ${s.id}: ${s.why}`);
  const already = result.alreadyReplayed ? ` (${result.alreadyReplayed} replayed before, left alone)` : '';
  lines.push(`${result.dryRun ? 'dry run: ' : ''}${verb} ${result.replayed.length} dead letter${result.replayed.length === 1 ? '' : 's'} from ${result.topic}${already}`);
  return lines.join('\n');
}

async function withQueue<R>(file: string, brokersFlag: string | undefined, work: (dlq: KafkaDeadLetterQueue) => Promise<R>): Promise<R> {
  const config = loadConfigOrFail(file);
  const dlq = await KafkaDeadLetterQueue.connect({ brokers: brokersOf(config, file, brokersFlag), topic: deadLetterTopicOf(config.name) });
  try {
    return await work(dlq);
  } finally {
    await dlq.close();
  }
}

export async function dlqListCommand(file: string, opts: { brokers?: string; limit?: number; reason?: string; stage?: string; since?: Date; json?: boolean }, io: Output = stdio): Promise<number> {
  const result = await withQueue(file, opts.brokers, (dlq) => dlq.list({ limit: opts.limit, reason: opts.reason, stage: opts.stage, since: opts.since }));
  io.out(opts.json ? JSON.stringify(result.letters, null, 2) : formatLetters(result));
  return 0;
}

export async function dlqReplayCommand(
  file: string,
  opts: { brokers?: string; offset?: string[]; all?: boolean; dryRun?: boolean; toTopic?: string; json?: boolean },
  io: Output = stdio,
): Promise<number> {
  if (opts.all && opts.offset?.length) throw new HdmError('CONFIG_INVALID', 'give either --offset or --all, not both');
  if (!opts.all && !opts.offset?.length) throw new HdmError('CONFIG_INVALID', 'name what to replay: --offset <partition:offset> (repeatable) or --all');
  const result = await withQueue(file, opts.brokers, (dlq) => dlq.replay({ offsets: opts.all ? 'all' : opts.offset!, dryRun: opts.dryRun, toTopic: opts.toTopic }));
  io.out(opts.json ? JSON.stringify(result, null, 2) : formatReplay(result));
  return result.skipped.length > 0 ? 1 : 0;
}

/** `hdm dlq list|replay`: the dead-letter topic of a migration in cluster mode. */
export function addDlqCommands(program: Command): void {
  const positive = (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--limit must be a whole number ≥ 1');
    return n;
  };
  const brokers = new Option('--brokers <list>', 'Kafka bootstrap servers, comma-separated (default: HDM_KAFKA_BROKERS, then cluster.brokers of the file)');
  const dlq = program.command('dlq').description('the dead-letter topic of a migration in cluster mode: records the services could not decode, with why');
  dlq
    .command('list')
    .description('list dead letters with their stage, reason, error and original topic/partition/offset')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .addOption(brokers)
    .addOption(new Option('--limit <n>', 'letters shown, oldest first').default(100).argParser(positive))
    .option('--reason <reason>', 'only this reason: undecodable, unknown-schema, schema-incompatible')
    .option('--stage <stage>', 'only letters from this stage (e.g. mapper, loader)')
    .addOption(new Option('--since <time>', 'only letters written since a time (ISO 8601) or a span back (30m, 2h, 7d)').argParser((v) => sinceOf(v)))
    .option('--json', 'print the letters as a JSON array')
    .action(async (opts) => {
      process.exitCode = await dlqListCommand(opts.config, opts);
    });
  dlq
    .command('replay')
    .description('re-publish dead letters to their original topic after a fix; --all skips letters replayed before')
    .requiredOption('-c, --config <file>', 'migration file (YAML)')
    .addOption(new Option('--brokers <list>', brokers.description))
    .addOption(new Option('--offset <id...>', 'letters to replay, as `hdm dlq list` shows them (partition:offset); repeatable'))
    .option('--all', 'every letter not replayed before')
    .option('--to-topic <topic>', 'send to this existing topic instead of each letter\'s original one')
    .option('--dry-run', 'show what would be replayed, send nothing')
    .option('--json', 'print the result as JSON')
    .action(async (opts) => {
      process.exitCode = await dlqReplayCommand(opts.config, opts);
    });
}
