import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PLATFORM_NAMES } from '../connectors/registry.ts';
import { HdmError } from '../connectors/sdk/errors.ts';
import { ENTITIES, TICKET_PRIORITIES, TICKET_STATUSES, TICKET_TYPES, type EntityName } from './canonical.ts';
import { FiltersSectionSchema, MappingSectionSchema, wizardOptionDefaults, wizardOptions } from './mapping.config.ts';

const envRef = z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }).strict();

const endpoint = z
  .object({
    /** Platform name: `zendesk`, `freshdesk` or `rt`. */
    platform: z.enum(PLATFORM_NAMES as [string, ...string[]]),
    /** Base URL of the platform's API host, e.g. `https://acme.zendesk.com`. */
    url: z.url({ protocol: /^https?$/ }),
    /**
     * Credentials, each read from an environment variable: `{ env: NAME }`. Omitted keys fall back
     * to the platform's default variables (ZENDESK_EMAIL, ZENDESK_API_TOKEN, FRESHDESK_API_KEY).
     */
    credentials: z.record(z.string(), envRef).default({}),
    /** Requests in flight at once against this endpoint. Default 8. */
    concurrency: z.number().int().min(1).max(64).default(8),
    /** Client-side requests-per-minute ceiling; 0 relies on the server's 429s. Default 0. */
    requestsPerMinute: z.number().int().min(0).default(0),
  })
  .strict();

const entityList = z.array(z.enum(ENTITIES as unknown as [EntityName, ...EntityName[]]));

export const MigrationConfigSchema = z
  .object({
    /** Migration name; names the ledger rows and the state directory. Letters, digits, `-`, `_`. */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'letters, digits, "-" or "_", at most 64'),
    source: endpoint,
    target: endpoint,
    /** Entities to migrate, in load order. Default: all. */
    entities: entityList.default([...ENTITIES]),
    options: z
      .object({
        /** Leave attachments behind (the report names each). Default false. */
        skipAttachments: z.boolean().default(false),
        /** Email of the target agent who receives what deactivated, deleted or unmatched agents did. Default: the first active admin migrated. */
        defaultAgentEmail: z.email().nullable().default(null),
        /** Status map, source → target; unmapped values fall to the nearest the target supports. */
        statusMap: z.partialRecord(z.enum(TICKET_STATUSES), z.enum(TICKET_STATUSES)).default({}),
        /** Priority map, source → target. */
        priorityMap: z.partialRecord(z.enum(TICKET_PRIORITIES), z.enum(TICKET_PRIORITIES)).default({}),
        /** Type map, source → target. */
        typeMap: z.partialRecord(z.enum(TICKET_TYPES), z.enum(TICKET_TYPES)).default({}),
        /** Records loaded at once. Default 16. */
        loaderConcurrency: z.number().int().min(1).max(256).default(16),
        /** Seconds re-read behind a saved cursor so same-second updates are never skipped. Default 60. */
        overlapSeconds: z.number().int().min(0).max(86_400).default(60),
        /** Apply deletions at the source to the target during deltas. Default false (recorded only). */
        propagateDeletes: z.boolean().default(false),
        /** When a target record was edited since our last load: `source-wins`, `skip` or `report`. Default `source-wins`. */
        conflictPolicy: z.enum(['source-wins', 'skip', 'report']).default('source-wins'),
        /** Days after the full run ends during which deltas may run; then the data is due for purging. Default 10. */
        retentionDays: z.number().int().min(1).max(3650).default(10),
        ...wizardOptions,
      })
      .strict()
      .default({
        propagateDeletes: false,
        conflictPolicy: 'source-wins',
        retentionDays: 10,
        skipAttachments: false,
        defaultAgentEmail: null,
        statusMap: {},
        priorityMap: {},
        typeMap: {},
        loaderConcurrency: 16,
        overlapSeconds: 60,
        ...wizardOptionDefaults,
      }),
    /** Field, value, default and group mapping (see docs/mapping.md). */
    mapping: MappingSectionSchema,
    /** Which tickets and articles move (see docs/mapping.md). */
    filters: FiltersSectionSchema,
    ledger: z
      .object({
        /** ClickHouse server URL; absent runs the embedded engine under the state directory. */
        clickhouseUrl: z.url({ protocol: /^https?$/ }).nullable().default(null),
        /** Database on the server. Default `hdm`. */
        database: z.string().default('hdm'),
        /** Server credentials, from environment variables. */
        username: envRef.optional(),
        password: envRef.optional(),
      })
      .strict()
      .default({ clickhouseUrl: null, database: 'hdm' }),
    /**
     * Cluster mode (`hdm serve poller|mapper|loader`): Kafka and a Confluent-compatible schema registry.
     * Absent: the embedded bus. `--brokers` / `--registry-url` (or HDM_KAFKA_BROKERS /
     * HDM_SCHEMA_REGISTRY_URL) override the file.
     */
    cluster: z
      .object({
        /** Bootstrap servers, `host:port`. */
        brokers: z.array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'host:port')).min(1),
        /** Base URL of the schema registry, e.g. `http://localhost:8081`. */
        registryUrl: z.url({ protocol: /^https?$/ }),
        /** Partitions of the topics the services create; loaders beyond this number stay idle. Default 16. */
        partitions: z.number().int().min(1).max(1024).default(16),
        /** How long the group waits for a silent member (a killed service) before handing its partitions on, in ms. Default 30000. */
        sessionTimeoutMs: z.number().int().min(6000).max(300_000).default(30_000),
      })
      .strict()
      .optional(),
    /** Directory for checkpoints and the embedded ledger. Default `.hdm/<name>`. */
    stateDir: z.string().optional(),
    /** The cutover dashboard served by `hdm serve api`. */
    dashboard: z
      .object({
        /** IANA time zones of the team, shown beside the viewer's own, e.g. `[Europe/Berlin, America/New_York]`. Default none. */
        timeZones: z.array(z.string().refine(isTimeZone, 'an IANA time zone such as Europe/Berlin')).max(8).default([]),
        /** Delta lag (p95 of the latest pass, seconds) under which cutover is judged safe. Default 300. */
        maxLagSeconds: z.number().int().min(1).default(300),
        /** Longest a delta pass may be ago for its lag to count as current, in seconds. Default 3600. */
        maxDeltaAgeSeconds: z.number().int().min(60).default(3600),
      })
      .strict()
      .default({ timeZones: [], maxLagSeconds: 300, maxDeltaAgeSeconds: 3600 }),
  })
  .strict();

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export type MigrationConfig = z.infer<typeof MigrationConfigSchema>;
export type EndpointConfig = MigrationConfig['source'];

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.length ? issue.path.join('.') : '(top level)';
  let value: unknown = input;
  for (const key of issue.path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
  const shown = value === undefined ? 'missing' : JSON.stringify(value);
  return `${path}: ${issue.message} (got ${shown && shown.length > 80 ? `${shown.slice(0, 80)}…` : shown})`;
}

/** Parses and freezes a migration config; a bad one fails with every path, value and expectation. */
export function parseMigrationConfig(input: unknown, origin = 'migration config'): Readonly<MigrationConfig> {
  const result = MigrationConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  - ${describeIssue(issue, input)}`);
    throw new HdmError('CONFIG_INVALID', `${origin} is invalid:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

export function loadMigrationConfig(file: string): Readonly<MigrationConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new HdmError('CONFIG_INVALID', `cannot read migration config ${file}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new HdmError('CONFIG_INVALID', `${file} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  return parseMigrationConfig(data, file);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

/** Reads an endpoint's credentials from the environment; a missing variable fails naming it (never its value). */
export function resolveCredentials(
  side: 'source' | 'target',
  endpointConfig: EndpointConfig,
  defaults: Record<string, string>,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const out: Record<string, string> = {};
  const missing: string[] = [];
  for (const [key, defaultVar] of Object.entries(defaults)) {
    const variable = endpointConfig.credentials[key]?.env ?? defaultVar;
    const value = env[variable];
    if (value === undefined || value === '') missing.push(`${side}.credentials.${key} (environment variable ${variable})`);
    else out[key] = value;
  }
  for (const key of Object.keys(endpointConfig.credentials)) {
    if (!(key in defaults)) {
      throw new HdmError('CONFIG_INVALID', `${side}.credentials.${key}: unknown credential for ${endpointConfig.platform}; expected one of ${Object.keys(defaults).join(', ')}`);
    }
  }
  if (missing.length) throw new HdmError('CONFIG_INVALID', `missing credentials: ${missing.join(', ')}`);
  return out;
}
