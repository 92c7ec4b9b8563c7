/**
 * `tsx tools/launcher/clickhouse-http/main.ts --port <n> --data <dir>`
 * Serves the stand-in of ClickHouse's HTTP interface on 127.0.0.1 until SIGTERM. The user and
 * password come from CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (as for ClickHouse's own Docker
 * image), never from the command line, where other processes could read them.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClickHouseHttpServer } from './server.ts';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const port = Number(option('--port') ?? 8123);
const dataDir = resolve(option('--data') ?? '.clickhouse-data');
mkdirSync(dataDir, { recursive: true });
const { server, version, close } = await createClickHouseHttpServer({
  dataDir,
  user: process.env.CLICKHOUSE_USER || 'default',
  password: process.env.CLICKHOUSE_PASSWORD ?? '',
});
server.listen(port, '127.0.0.1', () =>
  process.stdout.write(`ClickHouse HTTP interface stand-in (engine ${version}) listening on http://127.0.0.1:${port}\n`),
);
const stop = () => void close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
