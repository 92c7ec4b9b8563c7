import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PLATFORM_NAMES, PLATFORM_PLANS } from './platforms.ts';
import { HdmError } from './errors.ts';
import { ENTITIES, ORIGINAL_CREATED_FIELD, TICKET_PRIORITIES, TICKET_STATUSES, TICKET_TYPES, type EntityName } from './canonical.ts';
import { FiltersSectionSchema, MappingSectionSchema, wizardOptionDefaults, wizardOptions } from './mapping.config.ts';

/** What ClickHouse takes as a bare identifier: the name goes into `CREATE DATABASE` as is. */
export const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

const envRef = z
  .object(
    { env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') },
    { error: 'a reference to an environment variable, { env: NAME }: a secret is never written in the migration file' },
  )
  .strict();

const endpoint = z
  .object({
    /** Platform name: `zendesk`, `freshdesk` or `rt`. */
    platform: z.enum(PLATFORM_NAMES),
    /** Base URL of the platform's API host, e.g. `https://acme.zendesk.com`. */
    url: z.url({ protocol: /^https?$/ }),
    /**
     * Credentials, each read from an environment variable: `{ env: NAME }`. Omitted keys fall back
     * to the platform's default variables (ZENDESK_EMAIL, ZENDESK_API_TOKEN, FRESHDESK_API_KEY).
     */
    credentials: z.record(z.string(), envRef).default({}),
    /** Requests in flight at once against this endpoint. Default 8. */
    concurrency: z.number().int().min(1).max(64).default(8),
    /** Client-side requests-per-minute ceiling, on top of the plan's buckets; 0 means none. Default 0. */
    requestsPerMinute: z.number().int().min(0).default(0),
    /**
     * Plan whose API limit buckets requests are paced by (zendesk: team, growth, professional, enterprise,
     * enterprise-plus; freshdesk: trial, growth, pro, enterprise); `none` paces only after a 429, and only
     * the bucket that answered it. Default: the limits the account's answers state, else Enterprise.
     */
    plan: z.string().optional(),
    /** The account has Zendesk's High Volume API add-on. Default false. */
    highVolume: z.boolean().default(false),
    /**
     * As a Zendesk source: each delta pass also reads the latest ticket changes from List Tickets sorted by
     * `updated_at`, which has no export delay, besides the incremental export. Default true (Zendesk only).
     */
    fastLane: z.boolean().optional(),
    /**
     * As a Zendesk source: where ticket comments are read. `per-ticket`: List Comments for each ticket;
     * `events`: the Incremental Ticket Event Export with comment events, List Comments for the tickets it
     * cannot cover; `auto`: events for a read from the beginning, per-ticket for resumes and deltas.
     * Default `per-ticket` (Zendesk only).
     */
    comments: z.enum(['per-ticket', 'events', 'auto']).optional(),
  })
  .strict()
  .superRefine((side, ctx) => {
    const plans: readonly string[] = (PLATFORM_PLANS as Readonly<Record<string, readonly string[]>>)[side.platform] ?? [];
    if (side.plan !== undefined && side.plan !== 'none' && !plans.includes(side.plan)) {
      const expected = [...plans, 'none'].join(', ');
      ctx.addIssue({ code: 'custom', path: ['plan'], input: side.plan, message: plans.length ? `a ${side.platform} plan: ${expected}` : `none: ${side.platform} has no plans` });
    }
    if (side.highVolume && side.platform !== 'zendesk') ctx.addIssue({ code: 'custom', path: ['highVolume'], input: side.highVolume, message: `false: ${side.platform} has no high-volume API add-on` });
    if (side.fastLane === true && side.platform !== 'zendesk') ctx.addIssue({ code: 'custom', path: ['fastLane'], input: side.fastLane, message: `false: ${side.platform} has no fast lane (Zendesk only)` });
    if (side.comments !== undefined && side.platform !== 'zendesk') ctx.addIssue({ code: 'custom', path: ['comments'], input: side.comments, message: `no value: ${side.platform} reads comments one way (the option is Zendesk only)` });
    if (side.highVolume && side.plan === 'team') ctx.addIssue({ code: 'custom', path: ['highVolume'], input: side.highVolume, message: 'false with the team plan: the High Volume API add-on is sold with Growth and above' });
  });


/** Default template of the header line; `{author}` and `{time}` are filled in per ticket and note. */
export const DEFAULT_HEADER_FORMAT = 'Originally written by {author} on {time}';

export { ORIGINAL_CREATED_FIELD };

const OriginalsSchema = z
  .object({
    /** Put a header line with the original author and time at the top of every ticket description and note. Default true. */
    header: z.boolean().default(true),
    /** The header's text: `{author}` (the source user) and `{time}` (ISO 8601 with zone) are filled in. Default `Originally written by {author} on {time}`. */
    headerFormat: z
      .string()
      .min(1)
      .max(200)
      .refine((f) => f.includes('{time}'), 'a template that contains {time}')
      .default(DEFAULT_HEADER_FORMAT),
    /** Write each ticket's original creation date into the custom date field `original_created_at`, created on the target. Default true. */
    field: z.boolean().default(true),
  })
  .strict();
const ORIGINALS_DEFAULTS = { header: true, headerFormat: DEFAULT_HEADER_FORMAT, field: true };

/** Canonical statuses whose tickets belong to express order's working set, whatever their age. */
export const DEFAULT_WORKING_SET_STATUSES = ['new', 'open', 'pending', 'hold'] as const;

const ExpressSchema = z
  .object({
    /** Tickets updated in this many days before the full run started belong to the working set, whatever their status. Default 30. */
    recentDays: z.number().int().min(0).max(3650).default(30),
    /** Statuses (canonical, before `statusMap`) whose tickets belong to the working set. Default `[new, open, pending, hold]`. */
    statuses: z.array(z.enum(TICKET_STATUSES)).default([...DEFAULT_WORKING_SET_STATUSES]),
  })
  .strict();
const EXPRESS_DEFAULTS = { recentDays: 30, statuses: [...DEFAULT_WORKING_SET_STATUSES] };

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
        /**
         * Where attachments the target cannot hold (Freshdesk: 20 MB per ticket) are kept: written to
         * `directory`, which you serve at `baseUrl`, and linked from the comment that held them. Default
         * null: such attachments are named in their comment and in the report, not carried.
         */
        attachmentLinks: z
          .object({ directory: z.string().min(1), baseUrl: z.url({ protocol: /^https?$/ }) })
          .strict()
          .nullable()
          .default(null),
        /** Email of the target agent who receives what deactivated, deleted or unmatched agents did. Default: the first active admin migrated. */
        defaultAgentEmail: z.email().nullable().default(null),
        /**
         * Status map, source → target: keys are canonical statuses or the source's own status names
         * (RT lifecycle statuses such as `cancelled by customer`); unmapped values fall to the nearest
         * the target supports. Default `{}`.
         */
        statusMap: z.record(z.string().min(1), z.enum(TICKET_STATUSES)).default({}),
        /** Priority map, source → target. */
        priorityMap: z.partialRecord(z.enum(TICKET_PRIORITIES), z.enum(TICKET_PRIORITIES)).default({}),
        /** Type map, source → target. */
        typeMap: z.partialRecord(z.enum(TICKET_TYPES), z.enum(TICKET_TYPES)).default({}),
        /** Records of an entity loaded at once. Default 16; a target may ask for more (Zendesk: tickets 64). */
        loaderConcurrency: z.number().int().min(1).max(256).default(16),
        /** Seconds re-read behind a saved cursor so same-second updates are never skipped. Default 60. */
        overlapSeconds: z.number().int().min(0).max(86_400).default(60),
        /** Apply deletions at the source to the target during deltas. Default false (recorded only). */
        propagateDeletes: z.boolean().default(false),
        /** When a target record was edited since our last load: `source-wins`, `skip` or `report`. Default `source-wins`. */
        conflictPolicy: z.enum(['source-wins', 'skip', 'report']).default('source-wins'),
        /** Days after the full run ends during which deltas may run; then the data is due for purging. Default 10. */
        retentionDays: z.number().int().min(1).max(3650).default(10),
        /**
         * What a target that sets its own times (Freshdesk) cannot store, kept visibly: a header line with
         * the original author and time on every ticket and note, and the original creation date in a custom
         * date field. Default `{ header: true, headerFormat: 'Originally written by {author} on {time}', field: true }`.
         */
        originals: OriginalsSchema.default(ORIGINALS_DEFAULTS),
        /**
         * Order of the full run. `entity`: each entity whole, in load order. `express`: groups, agents and
         * ticket fields, then the working set (tickets open, pending or updated lately, with the contacts
         * and organizations they name), then everything else. Default `entity`.
         */
        order: z.enum(['entity', 'express']).default('entity'),
        /** What express order's working set holds. Default `{ recentDays: 30, statuses: [new, open, pending, hold] }`. */
        express: ExpressSchema.default(EXPRESS_DEFAULTS),
        ...wizardOptions,
      })
      .strict()
      .default({
        propagateDeletes: false,
        conflictPolicy: 'source-wins',
        retentionDays: 10,
        originals: ORIGINALS_DEFAULTS,
        order: 'entity',
        express: EXPRESS_DEFAULTS,
        skipAttachments: false,
        attachmentLinks: null,
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
        /** Database on the server: letters, digits and `_`. Default `hdm`. */
        database: z.string().regex(DATABASE_NAME, 'a database name: a letter or "_", then letters, digits or "_", at most 64').default('hdm'),
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
        /** Seconds without a record moving before a running run shows as stalled, with the reason. Default 15. */
        stallSeconds: z.number().int().min(5).max(3600).default(15),
        /**
         * Tickets drawn from the source (across its ticket IDs where it can tell them) when a full run starts
         * through the API, so the ETA counts their comments and attachments before the run reaches the tickets;
         * 0 draws none (the ETA then counts tickets alone until the run reads some). Default 20.
         */
        etaSampleTickets: z.number().int().min(0).max(300).default(20),
      })
      .strict()
      .default({ timeZones: [], maxLagSeconds: 300, maxDeltaAgeSeconds: 3600, stallSeconds: 15, etaSampleTickets: 20 }),
    /** Who hears about a change of the cutover verdict or of a stall, beyond the dashboard's tab title. Default none. */
    alerts: z
      .object({
        /**
         * An incoming webhook (Slack-compatible: a JSON body `{"text": "..."}` is posted) called when the
         * verdict changes or a running run stalls or moves again. Default none.
         */
        webhookUrl: z.url({ protocol: /^https?$/ }).optional(),
      })
      .strict()
      .default({}),
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

/** Path segments under which a value may be a secret: never shown in an error. */
const SECRET_PATH = /^(credentials|password|username)$|secret|token|apikey|passw/i;

/** How an error shows the offending values: `scalars` shows a scalar not under a secret path; `none` shows nothing (a file that may not be ours). */
export type Quoting = 'scalars' | 'none';

function describeIssue(issue: z.core.$ZodIssue, input: unknown, quoting: Quoting): string {
  const path = issue.path.length ? issue.path.join('.') : '(top level)';
  let value: unknown = input;
  for (const key of issue.path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
  const message = issue.code === 'unrecognized_keys' && quoting === 'none' ? `${issue.keys.length} unrecognized key(s)` : issue.message;
  return `${path}: ${message} (got ${shown(value, issue.path, quoting)})`;
}

/** A value as an error may show it: scalars quoted, containers by shape, secrets and others' files never. */
function shown(value: unknown, path: PropertyKey[], quoting: Quoting): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return value instanceof Date ? 'a date' : 'a mapping';
  if (quoting === 'none' || path.length === 0) return `a ${typeof value}, not shown`;
  if (path.some((key) => typeof key === 'string' && SECRET_PATH.test(key))) return `a ${typeof value}, not shown: it may be a secret`;
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/**
 * Text that was not UTF-8 arrives decoded with U+FFFD in place of each bad byte; such a value would
 * reach the platforms mangled, so it is an error, at its path.
 */
function undecodable(value: unknown, path: PropertyKey[] = [], out: z.core.$ZodIssue[] = []): z.core.$ZodIssue[] {
  if (typeof value === 'string') {
    if (value.includes('\uFFFD')) out.push({ code: 'custom', path, message: 'text in UTF-8 (a byte that is not UTF-8 was read as \uFFFD)', input: value } as z.core.$ZodIssue);
  } else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key.includes('\uFFFD')) out.push({ code: 'custom', path, message: 'keys in UTF-8 (a key holds a byte that is not UTF-8)', input: key } as z.core.$ZodIssue);
      undecodable(child, [...path, Array.isArray(value) ? Number(key) : key], out);
    }
  }
  return out;
}

/** Parses and freezes a migration config; a bad one fails with every path, value and expectation. */
export function parseMigrationConfig(input: unknown, origin = 'migration config', quoting: Quoting = 'scalars'): Readonly<MigrationConfig> {
  const result = MigrationConfigSchema.safeParse(input);
  const issues = [...undecodable(input), ...(result.success ? [] : result.error.issues)];
  if (issues.length > 0 || !result.success) {
    const lines = issues.map((issue) => `  - ${describeIssue(issue, input, quoting)}`);
    throw new HdmError('CONFIG_INVALID', `${origin} is invalid:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

/** A YAML error by position only: the parser's own message quotes the line, which may hold a secret or be another file's. */
export function yamlErrorWhere(err: unknown): string {
  const e = err as { code?: string; linePos?: { line: number; col: number }[] };
  const at = e.linePos?.[0];
  return `${e.code ?? 'a syntax error'}${at ? ` at line ${at.line}, column ${at.col}` : ''}`;
}

/**
 * Reads, parses and freezes a migration file. `quoting: 'none'` for a path someone else named (the API):
 * its errors then name paths and expectations only, never the file's content.
 */
export function loadMigrationConfig(file: string, quoting: Quoting = 'scalars'): Readonly<MigrationConfig> {
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
    throw new HdmError('CONFIG_INVALID', `${file} is not valid YAML: ${yamlErrorWhere(err)}`, { cause: err });
  }
  return parseMigrationConfig(data, file, quoting);
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
