import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hdm } from '../helpers/hdm-process.ts';

/** What `hdm serve poller|mapper|loader` says before it starts anything, when it cannot. */
describe('hdm serve poller|mapper|loader refusals', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hdm-serve-cluster-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, extra: Record<string, unknown>) => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(
      path,
      stringify({
        name,
        source: { platform: 'zendesk', url: 'http://127.0.0.1:9' },
        target: { platform: 'freshdesk', url: 'http://127.0.0.1:9' },
        stateDir: join(dir, name),
        ...extra,
      }),
    );
    return path;
  };
  // Brokers and registry only from the files here.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.HDM_KAFKA_BROKERS;
  delete env.HDM_SCHEMA_REGISTRY_URL;

  it('names what is missing: brokers, registry, a ledger server (exit 2)', async () => {
    const bare = await hdm(['serve', 'loader', '-c', file('bare', {})], env);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Kafka brokers (cluster.brokers, --brokers or HDM_KAFKA_BROKERS)');
    expect(bare.stderr).toContain('the schema registry');

    const embedded = await hdm(['serve', 'mapper', '-c', file('embedded', { cluster: { brokers: ['127.0.0.1:9092'], registryUrl: 'http://127.0.0.1:8081' } })], env);
    expect(embedded.code).toBe(2);
    expect(embedded.stderr).toContain('ledger.clickhouseUrl');

    const two = await hdm(['serve', 'poller', '-c', file('a', {}), file('b', {})], env);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('takes one migration file');
  });

  it('fails fast with UNREACHABLE naming the registry or Kafka that does not answer (exit 3)', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const p = (server.address() as { port: number }).port;
        server.close(() => resolve(p));
      });
    });
    const config = file('down', {
      ledger: { clickhouseUrl: `http://127.0.0.1:${port}` },
      cluster: { brokers: [`127.0.0.1:${port}`], registryUrl: `http://127.0.0.1:${port}` },
    });
    const result = await hdm(['serve', 'loader', '-c', config], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/UNREACHABLE: schema registry at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    expect(result.stderr).toContain('npm run services:up');
  });
});
