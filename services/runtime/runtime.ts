import { join, resolve } from 'node:path';
import { platform } from '../../connectors/registry.ts';
import type { Connector } from '../../connectors/sdk/contract.ts';
import { resolveCredentials, type MigrationConfig } from '../../schemas/config.ts';
import { InProcessBus } from '../bus/in-process-bus.ts';
import type { MessageBus } from '../bus/message-bus.ts';
import { openLedger } from '../ledger/clickhouse-ledger.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { MappingRules } from '../mapper/rules.ts';
import { rulesFromConfig } from '../mapper/rules.ts';
import { mostLoadsAtOnce, type PipelineDeps, type PipelineEvents } from '../pipeline/pipeline.ts';
import { FileCheckpointStore, type CheckpointStore } from '../poller/checkpoint-store.ts';
import { privateDir } from '../common/private-files.ts';
import { redactor } from '../../schemas/redact.ts';
import { createLogger, type Logger } from '../common/logger.ts';

/** SQL over the ledger: `hdm sql`, saved queries and the dashboard's panels. */
export interface LedgerQueries {
  /** `{migration:String}` in the text is this migration; `readonly` refuses anything but one read inside the ledger. */
  query(sql: string, options?: { params?: Record<string, unknown>; readonly?: boolean }): Promise<Record<string, unknown>[]>;
}

/** Everything a command needs for one migration, opened from its config. */
export interface Runtime {
  config: Readonly<MigrationConfig>;
  stateDir: string;
  source: Connector;
  target: Connector;
  ledger: Ledger & LedgerQueries;
  bus: MessageBus;
  rules: MappingRules;
  /** JSON-lines log under the state directory (`hdm.log`). */
  logger: Logger;
  logFile: string;
  checkpoints: CheckpointStore;
  deps(events?: PipelineEvents, signal?: AbortSignal): PipelineDeps;
  close(): Promise<void>;
}

export function stateDirOf(config: Readonly<MigrationConfig>, cwd = process.cwd()): string {
  return resolve(cwd, config.stateDir ?? join('.hdm', config.name));
}

/** What a cluster service runs on instead of the embedded bus and the state directory's checkpoints. */
export interface RuntimeParts {
  /** Connectors already opened (and checked) by the caller. */
  platforms?: Platforms;
  bus?: MessageBus;
  /** Made once the bus exists (checkpoints in a Kafka topic). */
  checkpoints?: (bus: MessageBus) => CheckpointStore;
}

/** Variables the ledger's server credentials are read from when the migration file names none. */
export const LEDGER_CREDENTIAL_ENV = Object.freeze({ username: 'HDM_CLICKHOUSE_USER', password: 'HDM_CLICKHOUSE_PASSWORD' });

/**
 * The ClickHouse server login: the variables `ledger.username` / `ledger.password` name, else
 * HDM_CLICKHOUSE_USER / HDM_CLICKHOUSE_PASSWORD (how docker-compose hands them to every service), else none.
 */
export function ledgerCredentials(config: Readonly<MigrationConfig>, env: NodeJS.ProcessEnv = process.env): { username?: string; password?: string } {
  const read = (key: keyof typeof LEDGER_CREDENTIAL_ENV) => env[config.ledger[key]?.env ?? LEDGER_CREDENTIAL_ENV[key]] || undefined;
  return { username: read('username'), password: read('password') };
}

/**
 * Credential keys that name who signs in rather than prove it (Zendesk's email): printed as they are,
 * since reports name the same people. Their pair with the token is still redacted in every encoding.
 */
const IDENTITY_KEYS: ReadonlySet<string> = new Set(['email', 'username', 'user']);

/** The values of a platform's credentials that are secrets. */
export function secretsOf(credentials: Record<string, string>): string[] {
  return Object.entries(credentials).flatMap(([key, value]) => (IDENTITY_KEYS.has(key) ? [] : [value]));
}

/**
 * Registers with the redactor every credential a migration file points at that the environment holds,
 * without requiring them: commands that only read the ledger print text that may quote a platform.
 */
export async function registerConfigSecrets(config: Readonly<MigrationConfig>, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  for (const side of [config.source, config.target]) {
    const defaults = (await platform(side.platform)).credentialEnv;
    for (const [key, variable] of Object.entries(defaults)) if (!IDENTITY_KEYS.has(key)) redactor.add(env[side.credentials[key]?.env ?? variable]);
  }
  redactor.add(ledgerCredentials(config, env).password);
}

/** A migration's two connectors. No request leaves until one is asked for. */
export interface Platforms {
  source: Connector;
  target: Connector;
}

/** `stop`: the run's stop request; once it aborts, both connectors cut what they have in flight. */
export async function openPlatforms(config: Readonly<MigrationConfig>, env: NodeJS.ProcessEnv = process.env, stop?: AbortSignal): Promise<Platforms> {
  const sourcePlatform = await platform(config.source.platform);
  const targetPlatform = await platform(config.target.platform);
  const sourceCredentials = resolveCredentials('source', config.source, sourcePlatform.credentialEnv, env);
  const targetCredentials = resolveCredentials('target', config.target, targetPlatform.credentialEnv, env);
  redactor.add(...secretsOf(sourceCredentials), ...secretsOf(targetCredentials));
  const open = (side: typeof config.source, made: typeof sourcePlatform, credentials: Record<string, string>) =>
    made.createConnector({ url: side.url, credentials, concurrency: side.concurrency, requestsPerMinute: side.requestsPerMinute, plan: side.plan, highVolume: side.highVolume, fastLane: side.fastLane, comments: side.comments, signal: stop });
  return { source: open(config.source, sourcePlatform, sourceCredentials), target: open(config.target, targetPlatform, targetCredentials) };
}

/** `stop`: the run's stop request; once it aborts, both connectors cut what they have in flight. */
export async function openRuntime(config: Readonly<MigrationConfig>, env: NodeJS.ProcessEnv = process.env, parts?: RuntimeParts, stop?: AbortSignal): Promise<Runtime> {
  const { source, target } = parts?.platforms ?? (await openPlatforms(config, env, stop));
  const stateDir = privateDir(stateDirOf(config));
  const { username, password } = ledgerCredentials(config, env);
  await registerConfigSecrets(config, env);
  const ledger = await openLedger({
    migration: config.name,
    url: config.ledger.clickhouseUrl,
    database: config.ledger.database,
    username,
    password,
    path: join(stateDir, 'ledger'),
  });
  const bus = parts?.bus ?? new InProcessBus({ partitions: Math.max(16, mostLoadsAtOnce(target.capabilities, config.options.loaderConcurrency)) });
  const rules: MappingRules = rulesFromConfig(config, target.capabilities);
  const checkpoints = parts?.checkpoints?.(bus) ?? new FileCheckpointStore(stateDir);
  const logFile = join(stateDir, 'hdm.log');
  const logger = createLogger({ file: logFile });
  return {
    logger,
    logFile,
    checkpoints,
    config,
    stateDir,
    source,
    target,
    ledger,
    bus,
    rules,
    deps: (events, signal) => ({
      migration: config.name,
      source,
      target,
      ledger,
      bus,
      checkpoints,
      rules,
      entities: config.entities,
      loaderConcurrency: config.options.loaderConcurrency,
      overlapSeconds: config.options.overlapSeconds,
      defaultAgentEmail: config.options.defaultAgentEmail,
      propagateDeletes: config.options.propagateDeletes,
      conflictPolicy: config.options.conflictPolicy,
      retentionDays: config.options.retentionDays,
      order: config.options.order,
      express: config.options.express,
      events,
      logger,
      signal,
    }),
    async close() {
      // Every part is closed even when one before it fails: a ledger left open would hold its data
      // directory, and the embedded engine takes one per process.
      const outcomes = [await settle(bus.close()), ...(await Promise.allSettled([source.close(), target.close()])), await settle(ledger.close())];
      logger.flush();
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}

async function settle(p: Promise<unknown>): Promise<PromiseSettledResult<unknown>> {
  return (await Promise.allSettled([p]))[0]!;
}
