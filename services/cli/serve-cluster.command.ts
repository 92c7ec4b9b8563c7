import { toHdmError } from '../../schemas/errors.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { clusterSettings, openClusterRuntime, type ClusterFlags } from '../cluster/cluster.ts';
import type { RunResult } from '../pipeline/pipeline.ts';
import { fullRun, prepareRun, type PreparedRun } from '../run/run-kinds.ts';
import { openPlatforms, type Platforms } from '../runtime/runtime.ts';
import { runLoader, runMapper, runPoller } from '../cluster/services.ts';
import { exitCodeOf, loadConfigOrFail, stopOnSignal, type Output } from './commands.ts';

export const CLUSTER_ROLES = ['poller', 'mapper', 'loader'] as const;
export type ClusterRole = (typeof CLUSTER_ROLES)[number];

export interface ServeClusterFlags extends ClusterFlags {
  config: string;
  clickhouseUrl?: string;
  follow?: boolean;
  intervalMs?: number;
  restart?: boolean;
  json?: boolean;
}

/**
 * `hdm serve poller|mapper|loader -c m.yaml`: one cluster service of one migration. The mapper and
 * loader run until stopped (SIGINT/SIGTERM: in-flight records finish, their offsets are committed);
 * the poller until its full run is done, or with --follow until stopped.
 */
export async function serveClusterCommand(role: ClusterRole, flags: ServeClusterFlags, io: Output, env = process.env): Promise<number> {
  let config = loadConfigOrFail(flags.config);
  if (flags.clickhouseUrl) config = parseMigrationConfig({ ...config, ledger: { ...config.ledger, clickhouseUrl: flags.clickhouseUrl } }, `${flags.config} with --clickhouse-url`);
  const say = (line: string) => io.err(`[${role} ${config.name}] ${line}`);
  const controller = new AbortController();
  let full: PreparedRun<{ result: RunResult }> | null = null;
  let platforms: Platforms | undefined;
  if (role === 'poller') {
    // The run is checked before any Kafka or ledger wiring: a file that cannot run fails as it does from the CLI or the API.
    clusterSettings(config, flags, env);
    platforms = await openPlatforms(config, env, controller.signal);
    try {
      full = await prepareRun(fullRun, { config, ...platforms }, { restart: flags.restart ?? false, verify: false });
    } catch (err) {
      await Promise.allSettled([platforms.source.close(), platforms.target.close()]);
      throw err;
    }
  }
  const runtime = await openClusterRuntime(config, flags, env, { log: say, platforms });
  const onSignal = stopOnSignal(controller, io);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(`connected: ${role === 'poller' ? 'reading the source' : 'consuming'}${role === 'poller' ? '' : ' until stopped'}`);
    if (role === 'mapper') await runMapper(runtime, { signal: controller.signal });
    else if (role === 'loader') await runLoader(runtime, { signal: controller.signal });
    else {
      const result = await runPoller(runtime, full!, {
        follow: flags.follow,
        intervalMs: flags.intervalMs,
        restart: flags.restart,
        signal: controller.signal,
        say,
        events: { phase: (entity, state) => state !== 'skipped' && say(`${entity}: ${state === 'start' ? 'publishing' : 'settled'}`) },
      });
      if (flags.json) io.out(JSON.stringify({ full: result.full && { run: result.full.run, counts: result.full.counts }, deltas: result.deltas.map((d) => ({ run: d.run, counts: d.counts })) }, null, 2));
      else if (result.full) {
        for (const [entity, c] of Object.entries(result.full.counts)) say(`${entity}: read ${c.read}, loaded ${c.loaded} (created ${c.created}, updated ${c.updated}, matched ${c.matched}, unchanged ${c.unchanged}), filtered ${c.filtered}, failed ${c.failed}`);
      }
      const failed = [result.full, ...result.deltas].some((r) => r && Object.values(r.counts).some((c) => c.failed > 0));
      return failed ? 1 : 0;
    }
    say('stopped');
    return 0;
  } catch (err) {
    const error = toHdmError(err);
    if (controller.signal.aborted) {
      say('stopped');
      return 0;
    }
    io.err(`hdm serve ${role}: ${error.code}: ${error.message}`);
    return exitCodeOf(error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runtime.close();
  }
}
