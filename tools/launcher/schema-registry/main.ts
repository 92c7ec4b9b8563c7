/**
 * `tsx tools/launcher/schema-registry/main.ts --port <n> [--data <file>] [--compatibility BACKWARD]`
 * Runs the schema registry on 127.0.0.1 until SIGTERM.
 */
import { createRegistryServer, SchemaRegistryStore, type CompatibilityLevel } from './registry.server.ts';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const port = Number(option('--port') ?? 8081);
const store = new SchemaRegistryStore(option('--data') ?? null, (option('--compatibility') ?? 'BACKWARD') as CompatibilityLevel);
const server = createRegistryServer(store);
server.listen(port, '127.0.0.1', () => process.stdout.write(`schema registry listening on http://127.0.0.1:${port}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
