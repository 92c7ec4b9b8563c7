import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildApi } from '../../services/api/app.ts';
import { faultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { hdm } from '../helpers/hdm-process.ts';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

/**
 * Regression: `hdm migrate` checked the mapping before any work, while the API's full run and the
 * cluster poller started without that check, so one file failed cleanly from the CLI and half-ran from
 * the others. The same broken file through all three now fails with the same code after the same
 * reads of the source's schema (counted by a proxy in front of each platform): no record is read and
 * no request reaches the target.
 */

let m: MigrationEnv;
let sourceProxy: FaultProxy;
let targetProxy: FaultProxy;
let deadPort: number;

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 3, seed: 11, articles: 1, maxComments: 1 });
  sourceProxy = await faultProxy(m.source.url);
  targetProxy = await faultProxy(m.target.url);
  // A port that was free a moment ago: no Kafka, registry or ClickHouse answers there.
  deadPort = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
});
afterAll(async () => {
  await Promise.allSettled([sourceProxy?.close(), targetProxy?.close()]);
  await m?.close();
});

/** A migration file through the proxies; each case gets its own state. */
function brokenFile(name: string, broken: Record<string, unknown>): string {
  const file = join(m.dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      ...m.config,
      name,
      source: { ...(m.config.source as object), url: sourceProxy.url },
      target: { ...(m.config.target as object), url: targetProxy.url },
      stateDir: join(m.dir, name),
      ...broken,
    }),
  );
  return file;
}

interface Outcome {
  code: string | undefined;
  message: string;
  sourceRequests: number;
  targetRequests: number;
}

/** Runs one entry point on the file and returns the error code it gave and the requests it caused. */
async function through(entry: 'cli' | 'api' | 'poller', file: string, name: string): Promise<Outcome> {
  const before = { source: sourceProxy.hits(/./), target: targetProxy.hits(/./) };
  let code: string | undefined;
  let message: string;
  if (entry === 'api') {
    const stateDir = mkdtempSync(join(tmpdir(), 'hdm-preflight-api-'));
    const api = buildApi({ stateDir, configFiles: [file], env: m.env });
    try {
      const headers = { authorization: `Bearer ${api.tokens.create('operator').token}` };
      const started = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers, payload: { kind: 'full', options: { verify: false } } });
      expect(started.statusCode, started.body).toBe(400);
      ({ code, message } = started.json().error);
      const jobs = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}`, headers })).json().jobs;
      expect(jobs).toEqual([]);
    } finally {
      await api.app.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  } else {
    const dead = `127.0.0.1:${deadPort}`;
    const args =
      entry === 'cli'
        ? ['migrate', '-c', file, '--no-progress']
        : ['serve', 'poller', '-c', file, '--brokers', dead, '--registry-url', `http://${dead}`, '--clickhouse-url', `http://${dead}`];
    const env = { ...m.env };
    delete env.HDM_KAFKA_BROKERS;
    delete env.HDM_SCHEMA_REGISTRY_URL;
    const result = await hdm(args, env);
    expect(result.code, result.stderr).toBe(2);
    code = /hdm: ([A-Z_]+):/.exec(result.stderr)?.[1];
    message = result.stderr;
  }
  return { code, message, sourceRequests: sourceProxy.hits(/./) - before.source, targetRequests: targetProxy.hits(/./) - before.target };
}

/** Requests for records (tickets, their comments and attachments), as against the schema reads of a preflight. */
const RECORDS = /\/(tickets|comments|attachments)[/.?]/;

describe('the mapping preflight, from the CLI, the API and the cluster poller alike', () => {
  const cases = [
    {
      name: 'field-map',
      broken: { mapping: { fields: { no_such_field: 'priority_note' } } },
      names: 'mapping.fields.no_such_field: the source (zendesk) has no ticket field "no_such_field"',
    },
    {
      name: 'status-map',
      broken: { options: { statusMap: { pending: 'hold' } } },
      names: 'options.statusMap.pending: the target (freshdesk) has no value "hold"',
    },
  ];
  for (const { name, broken, names } of cases) {
    it(`${name}: CONFIG_INVALID from all three, the same schema reads at the source, no record read, nothing at the target`, async () => {
      const file = brokenFile(name, broken);
      const records = sourceProxy.hits(RECORDS);
      const sourceRequests: number[] = [];
      for (const entry of ['cli', 'api', 'poller'] as const) {
        const outcome = await through(entry, file, name);
        expect(outcome, entry).toMatchObject({ code: 'CONFIG_INVALID', targetRequests: 0 });
        expect(outcome.message, entry).toContain(names);
        sourceRequests.push(outcome.sourceRequests);
      }
      expect(sourceProxy.hits(RECORDS)).toBe(records);
      expect(sourceRequests[0]).toBeGreaterThan(0);
      expect(new Set(sourceRequests).size, `source requests per entry point: ${sourceRequests.join(', ')}`).toBe(1);
    });
  }
});
