#!/usr/bin/env node
// npm run bench [-- --sizes 10000,100000]     full migrations (docs/benchmarks.md)
// npm run bench -- delta [--tickets 10000]    delta request ratio and --follow lag
// npm run bench -- lag [--changes 20]         delta --follow lag under the export's one-minute exclusion, fast lane on and off
// npm run bench -- cluster [--tickets 3000]   embedded vs cluster (1 and 2 loaders) vs raw kafkajs
// npm run bench -- faults [--tickets 2000]    a clean run against one through random faults, outages and kills
// npm run bench -- sandbox [--requests 2000]  requests per second the Zendesk and Freshdesk sandboxes serve
// npm run bench -- budget [--tickets 2000] [--reverse|--both] [--json]  a migration at Enterprise limits against its lower bound
import { register } from 'tsx/esm/api';

register();
const args = process.argv.slice(2);
if (args[0] === 'cluster') {
  const { main } = await import('../bench/cluster.bench.ts');
  await main(args.slice(1));
} else if (args[0] === 'faults') {
  const { main } = await import('../bench/faults.bench.ts');
  await main(args.slice(1));
} else if (args[0] === 'sandbox') {
  const { main } = await import('../bench/sandbox.bench.ts');
  await main(args.slice(1));
} else if (args[0] === 'budget') {
  const { main } = await import('../bench/budget.bench.ts');
  await main(args.slice(1));
} else if (args[0] === 'lag') {
  const { main } = await import('../bench/lag.bench.ts');
  await main(args.slice(1));
} else if (args[0] === 'delta') {
  const { main } = await import('../bench/delta.bench.ts');
  await main(args.slice(1));
} else {
  const { main } = await import('../bench/migration.bench.ts');
  await main(args);
}
