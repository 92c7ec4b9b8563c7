import type avro from 'avsc';
import { HdmError } from '../../schemas/errors.ts';
import { CHECKPOINT_VALUE_SCHEMA, plannedValueSchema, recordsValueSchema } from '../../schemas/avro.ts';
import { isEntityName } from '../../schemas/canonical.ts';
import type { MigrationConfig } from '../../schemas/config.ts';
import { KafkaBus, topicName } from '../bus/kafka-bus.ts';
import { KafkaCheckpointStore } from '../poller/kafka-checkpoints.ts';
import type { BusMessage, Handler, MessageBus, OutgoingMessage, PublishOptions, PublishReceipt, SubscribeOptions, Subscription } from '../bus/message-bus.ts';
import { openRuntime, type Platforms, type Runtime } from '../runtime/runtime.ts';

/**
 * Cluster mode: the poller, mapper and loader of one migration as separate processes over Kafka.
 * Topics are `hdm.<migration>.<stage>`: `records-<entity>` (poller → mapper), `planned-<entity>`
 * (mapper → loader), `checkpoints` (compacted, the poller's cursors) and `dlq` (dead letters).
 */

export interface ClusterFlags {
  /** Comma-separated bootstrap servers. */
  brokers?: string;
  registryUrl?: string;
}

export interface ClusterSettings {
  brokers: string[];
  registryUrl: string;
  partitions: number;
  sessionTimeoutMs?: number;
}

export const CHECKPOINTS_STAGE = 'checkpoints';

/** Brokers and registry: flags, then HDM_KAFKA_BROKERS / HDM_SCHEMA_REGISTRY_URL, then the file's `cluster` section. */
export function clusterSettings(config: Readonly<MigrationConfig>, flags: ClusterFlags = {}, env: NodeJS.ProcessEnv = process.env): ClusterSettings {
  const brokers = (flags.brokers ?? env.HDM_KAFKA_BROKERS)?.split(',').map((b) => b.trim()).filter(Boolean) ?? config.cluster?.brokers ?? [];
  const registryUrl = flags.registryUrl ?? env.HDM_SCHEMA_REGISTRY_URL ?? config.cluster?.registryUrl ?? '';
  const missing = [brokers.length === 0 ? 'Kafka brokers (cluster.brokers, --brokers or HDM_KAFKA_BROKERS)' : null, registryUrl ? null : 'the schema registry (cluster.registryUrl, --registry-url or HDM_SCHEMA_REGISTRY_URL)'].filter(Boolean);
  if (missing.length > 0) {
    throw new HdmError('CONFIG_INVALID', `cluster mode needs ${missing.join(' and ')}; \`npm run services:up -- kafka schema-registry\` starts both locally`);
  }
  if (!config.ledger.clickhouseUrl) {
    throw new HdmError(
      'CONFIG_INVALID',
      'cluster services share the ledger, so it must be on a ClickHouse server: set ledger.clickhouseUrl (or --clickhouse-url); the embedded engine belongs to one process',
      { context: { field: 'ledger.clickhouseUrl' } },
    );
  }
  return { brokers, registryUrl, partitions: config.cluster?.partitions ?? 16, sessionTimeoutMs: config.cluster?.sessionTimeoutMs };
}

/** The Avro schema of each of a migration's topics. */
export function clusterSchemaFor(migration: string): (topic: string) => avro.Schema {
  const prefix = `hdm.${migration}.`;
  return (topic) => {
    const stage = topic.startsWith(prefix) ? topic.slice(prefix.length) : topic;
    if (stage === CHECKPOINTS_STAGE) return CHECKPOINT_VALUE_SCHEMA;
    const [kind, entity] = stage.split(/-(.*)/s);
    if (entity && isEntityName(entity)) {
      if (kind === 'records') return recordsValueSchema(entity);
      if (kind === 'planned') return plannedValueSchema(entity);
    }
    throw new HdmError('INTERNAL', `topic ${topic} is not one of migration ${migration}'s topics`);
  };
}

/**
 * A migration's view of the Kafka bus: the pipeline's stage topics (`records-ticket`) are the
 * migration's own (`hdm.<migration>.records-ticket`), and so are consumer groups.
 */
export class MigrationBus implements MessageBus {
  readonly durable = true;

  constructor(
    readonly kafka: KafkaBus,
    readonly migration: string,
  ) {}

  topic(stage: string): string {
    return topicName(this.migration, stage);
  }

  publish<T>(topic: string, messages: OutgoingMessage<T>[], options?: PublishOptions): Promise<PublishReceipt> {
    void options; // Kafka acknowledges on publish: nothing to track per parent.
    return this.kafka.publish(this.topic(topic), messages);
  }

  subscribe<T>(topic: string, handler: Handler<T>, options: SubscribeOptions<T>): Promise<Subscription> {
    const physical = this.topic(topic);
    const { prefetch } = options;
    // Each stage of each stream has its own group: members of one group share its partitions.
    return this.kafka.subscribe<T>(physical, (message: BusMessage<T>) => handler({ ...message, topic }), {
      ...options,
      prefetch: prefetch && ((messages) => prefetch(messages.map((m) => ({ ...m, topic })))),
      group: `${physical}.${options.group}`,
      stage: options.group,
    });
  }

  close(): Promise<void> {
    return this.kafka.close();
  }
}

/** Connects to Kafka and the registry; a clear UNREACHABLE error names the one that does not answer. */
export async function openClusterBus(config: Readonly<MigrationConfig>, settings: ClusterSettings, options: { log?: (line: string) => void } = {}): Promise<MigrationBus> {
  const kafka = await KafkaBus.connect({
    brokers: settings.brokers,
    registryUrl: settings.registryUrl,
    schemaFor: clusterSchemaFor(config.name),
    partitions: settings.partitions,
    clientId: `hdm-${config.name}`,
    sessionTimeoutMs: settings.sessionTimeoutMs,
    compacted: (topic) => topic === topicName(config.name, CHECKPOINTS_STAGE),
    log: options.log,
  });
  return new MigrationBus(kafka, config.name);
}

/** The runtime of a cluster service: the migration's sources, target and ledger, on the Kafka bus. */
export async function openClusterRuntime(
  config: Readonly<MigrationConfig>,
  flags: ClusterFlags,
  env: NodeJS.ProcessEnv = process.env,
  /** `log`: lines for the operator about what the bus recovered from by itself; `platforms`: connectors the caller opened already. */
  options: { log?: (line: string) => void; platforms?: Platforms } = {},
): Promise<Runtime> {
  const settings = clusterSettings(config, flags, env);
  const bus = await openClusterBus(config, settings, options);
  try {
    return await openRuntime(config, env, {
      platforms: options.platforms,
      bus,
      checkpoints: () => new KafkaCheckpointStore(bus.kafka, bus.topic(CHECKPOINTS_STAGE)),
    });
  } catch (err) {
    await bus.close();
    throw err;
  }
}
