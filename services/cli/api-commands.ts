import { Option, type Command } from 'commander';
import { EVENT_STREAM_DEFAULTS } from '../api/event-stream.ts';
import { DEFAULT_API_STATE_DIR, ROLES, serveApiCommand, tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from '../api/serve.ts';
import { stdio } from './commands.ts';
import { duration } from './duration.ts';
import { CLUSTER_ROLES, serveClusterCommand, type ClusterRole } from './serve-cluster.command.ts';

/** Roles `hdm serve` runs: the API, and the cluster services of one migration. */
export const SERVE_ROLES = ['api', ...CLUSTER_ROLES] as const;

/** `hdm serve api` and `hdm token …`. */
export function addApiCommands(program: Command, int: (name: string, min?: number) => (value: string) => number): void {
  program
    .command('serve')
    .description(
      'run a service: api (the HTTP API and the live cutover dashboard); poller, mapper or loader (cluster mode: ' +
        'one migration over Kafka, see docs/cluster.md; loaders beyond the topics\' partitions stay idle)',
    )
    .addArgument(program.createArgument('<role>', 'service role').choices(SERVE_ROLES))
    .option('-c, --config <file...>', 'migration file(s) (YAML) to serve; cluster roles take one')
    .option('--clickhouse-url <url>', 'ledger of those migrations on this ClickHouse server instead of the embedded engine')
    .option('--brokers <list>', 'cluster roles: Kafka bootstrap servers, comma-separated (else HDM_KAFKA_BROKERS, else cluster.brokers)')
    .option('--registry-url <url>', 'cluster roles: schema registry URL (else HDM_SCHEMA_REGISTRY_URL, else cluster.registryUrl)')
    .option('--follow', 'poller: after the full run, run delta passes until stopped')
    .addOption(new Option('--interval <duration>', 'poller with --follow: pause between delta passes (30s, 2m)').default(30_000, '30s').argParser(duration))
    .option('--restart', 'poller: start a new full run even if one finished')
    .addOption(new Option('--port <n>', 'port (0 picks a free one)').default(8080).argParser(int('--port')))
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--state-dir <dir>', "the API's state: tokens, migrations created through it", DEFAULT_API_STATE_DIR)
    .addOption(new Option('--max-event-streams <n>', 'api: event streams open at once; one more answers 503').default(EVENT_STREAM_DEFAULTS.maxStreams).argParser(int('--max-event-streams', 1)))
    .addOption(new Option('--max-event-streams-per-token <n>', 'api: event streams one token may hold open; one more answers 429').default(EVENT_STREAM_DEFAULTS.maxStreamsPerToken).argParser(int('--max-event-streams-per-token', 1)))
    .option('--json', 'api: print the URL as JSON; poller: print the runs and their counts as JSON')
    .action(async (role: string, opts) => {
      if (role !== 'api') {
        const files: string[] = opts.config ?? [];
        if (files.length !== 1) {
          stdio.err(`hdm serve ${role} takes one migration file: -c m.yaml`);
          process.exitCode = 2;
          return;
        }
        process.exitCode = await serveClusterCommand(
          role as ClusterRole,
          { config: files[0], clickhouseUrl: opts.clickhouseUrl, brokers: opts.brokers, registryUrl: opts.registryUrl, follow: opts.follow, intervalMs: opts.interval, restart: opts.restart, json: opts.json },
          stdio,
        );
        return;
      }
      const server = await serveApiCommand({ config: opts.config, clickhouseUrl: opts.clickhouseUrl, port: opts.port, host: opts.host, stateDir: opts.stateDir, json: opts.json, maxEventStreams: opts.maxEventStreams, maxEventStreamsPerToken: opts.maxEventStreamsPerToken }, stdio);
      await new Promise<void>((done) => {
        const stop = () => void server.close().then(done);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  const token = program.command('token').description('manage the API\'s bearer tokens (stored hashed; a token is shown once, when created)');
  token
    .command('create')
    .description('create a token and print it once')
    .addOption(new Option('--role <role>', 'viewer reads; operator also starts runs; admin also manages tokens and migrations').choices(ROLES).makeOptionMandatory())
    .option('--label <text>', 'who or what holds it', '')
    .option('--state-dir <dir>', "the API's state directory", DEFAULT_API_STATE_DIR)
    .option('--json', 'print {"token": …} as JSON')
    .action((opts) => {
      process.exitCode = tokenCreateCommand({ role: opts.role, label: opts.label, stateDir: opts.stateDir, json: opts.json }, stdio);
    });
  token
    .command('list')
    .description('list tokens (ids, roles, labels; never the secrets)')
    .option('--state-dir <dir>', "the API's state directory", DEFAULT_API_STATE_DIR)
    .option('--json', 'JSON output')
    .action((opts) => {
      process.exitCode = tokenListCommand({ stateDir: opts.stateDir, json: opts.json }, stdio);
    });
  token
    .command('revoke')
    .description('remove a token by id')
    .argument('<id>', 'token id (from token list)')
    .option('--state-dir <dir>', "the API's state directory", DEFAULT_API_STATE_DIR)
    .action((id: string, opts) => {
      process.exitCode = tokenRevokeCommand(id, { stateDir: opts.stateDir }, stdio);
    });
}
