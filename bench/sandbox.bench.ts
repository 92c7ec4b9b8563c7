import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { startFreshdeskSandbox } from '../connectors/freshdesk/sandbox/server.ts';
import { startZendeskSandbox } from '../connectors/zendesk/sandbox/server.ts';

/**
 * `npm run bench -- sandbox [--requests 2000] [--concurrency 8]`: requests per second each sandbox serves
 * for one list endpoint (limits lifted), over keep-alive connections from this process.
 */
export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { requests: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' } },
  });
  const total = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  const dispatcher = new Agent({ connections: concurrency, pipelining: 1 });
  const zendesk = await startZendeskSandbox({ requestsPerMinute: null, tickets: 200 });
  const freshdesk = await startFreshdeskSandbox({ requestsPerMinute: null, tickets: 200 });
  await freshdesk.ready;
  const zdAuth = `Basic ${Buffer.from(`${zendesk.credentials.email}/token:${zendesk.credentials.apiToken}`).toString('base64')}`;
  const fdAuth = `Basic ${Buffer.from(`${freshdesk.apiKey}:X`).toString('base64')}`;
  const targets = [
    { name: 'zendesk GET /api/v2/groups.json', url: `${zendesk.url}/api/v2/groups.json`, auth: zdAuth },
    { name: 'freshdesk GET /api/v2/groups', url: `${freshdesk.url}/api/v2/groups`, auth: fdAuth },
  ];
  try {
    for (const t of targets) {
      const rates: number[] = [];
      for (let round = 0; round < rounds; round++) {
        let next = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < total) {
              next += 1;
              const res = await request(t.url, { headers: { authorization: t.auth }, dispatcher });
              await res.body.arrayBuffer();
              if (res.statusCode !== 200) throw new Error(`${t.name}: HTTP ${res.statusCode}`);
            }
          }),
        );
        rates.push(total / ((performance.now() - started) / 1000));
      }
      const best = Math.max(...rates);
      process.stdout.write(`${t.name}: ${rates.map((r) => r.toFixed(0)).join(', ')} requests/s (best ${best.toFixed(0)}) over ${total} requests, ${concurrency} connections\n`);
    }
  } finally {
    await dispatcher.close();
    await Promise.all([zendesk.close(), freshdesk.close()]);
  }
}
