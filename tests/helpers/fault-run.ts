import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { verifyCommand } from '../../services/cli/commands.ts';
import type { VerifyReport } from '../../services/reconciler/verify.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { faultProxy, type Fault, type FaultProxy } from './fault-proxy.ts';
import { captureOutput, migrationEnv } from './migration-env.ts';

const HDM = fileURLToPath(new URL('../../bin/hdm.mjs', import.meta.url));

export interface FaultRunOptions {
  from: string;
  to: string;
  tickets: number;
  seed: number;
  /** Share of API requests (both platforms) hit by a fault, 0–1. */
  faultRate: number;
  /** Target outages (every connection refused) during the run. */
  outages: number;
  outageMs: number;
  /** SIGKILLs of the migration process during the run (each followed by a resume). */
  kills: number;
  log?: (line: string) => void;
}

export interface FaultRunResult {
  seconds: number;
  /** Exit code of each `hdm migrate` process, killed ones as null. */
  exits: (number | null)[];
  events: string[];
  hits: Record<string, number>;
  requests: { source: number; target: number };
  sourceTickets: number;
  targetTickets: number;
  report: VerifyReport;
}

// A small deterministic PRNG, so a failing run can be replayed from its seed.
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The faults a fault run mixes, by the label the proxy counts them under. */
export const FAULTS: Record<string, Fault> = {
  'answer 500': { kind: 'answer', status: 500, body: { error: 'injected' } },
  'answer 503': { kind: 'answer', status: 503, body: { error: 'injected' } },
  'answer 429': { kind: 'answer', status: 429, body: { error: 'too many requests' }, headers: { 'retry-after': '1' } },
  reset: { kind: 'reset' },
  'lose-answer': { kind: 'lose-answer' },
  'gateway-error': { kind: 'gateway-error' },
  truncate: { kind: 'truncate' },
};

/** Each request to a platform's API has `rate` chance of one of the faults, evenly mixed. */
function injectEverywhere(proxy: FaultProxy, rate: number): void {
  const kinds = Object.values(FAULTS);
  kinds.forEach((fault, i) => {
    // Rules are tried in turn, each with its own draw: later ones get the share left by earlier ones.
    const probability = rate / kinds.length / (1 - (rate * i) / kinds.length);
    // Only JSON answers are cut short: an attachment's bytes carry no length to check them against.
    const path = fault.kind === 'truncate' ? /^\/(api\/v2|REST\/2\.0)\// : /./;
    proxy.add({ fault, path, probability });
  });
}

/** What `hdm failures` says, for the log of a run that did not end clean. */
function failuresOf(configFile: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HDM, 'failures', '--config', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', () => resolve(out.slice(0, 3000)));
  });
}

/**
 * A full migration through fault-injecting proxies in front of both platforms, with target outages
 * and SIGKILLs of the migration process at set points of its progress, resumed until it finishes;
 * then verified against the platforms directly.
 */
export async function faultRun(options: FaultRunOptions): Promise<FaultRunResult> {
  const log = options.log ?? (() => {});
  const m = await migrationEnv(options.from, options.to, { tickets: options.tickets, seed: options.seed, articles: 10, unthrottled: 'hundreds of tickets with up to 30 comments each are minutes of the Enterprise budget under injected faults; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
  const random = prng(options.seed);
  const sourceProxy = await faultProxy(m.source.url, { random });
  const targetProxy = await faultProxy(m.target.url, { random });
  try {
    injectEverywhere(sourceProxy, options.faultRate);
    injectEverywhere(targetProxy, options.faultRate);
    const faulty = { ...m.config, source: { ...(m.config.source as object), url: sourceProxy.url }, target: { ...(m.config.target as object), url: targetProxy.url } };
    const configFile = join(m.dir, 'faulty.yaml');
    writeFileSync(configFile, stringify(faulty));

    // Events at points of progress (target tickets against source tickets), alternating kinds.
    const plan: ('outage' | 'kill')[] = [];
    for (let i = 0; i < Math.max(options.outages, options.kills); i++) {
      if (i < options.outages) plan.push('outage');
      if (i < options.kills) plan.push('kill');
    }
    const points = plan.map((_, i) => 0.1 + (0.7 * i) / Math.max(1, plan.length - 1));
    const events: string[] = [];
    const exits: (number | null)[] = [];
    const started = Date.now();
    const sourceTickets = m.source.counts().ticket;

    const spawnMigrate = (): { child: ChildProcess; exited: Promise<number | null> } => {
      const child = spawn(process.execPath, [HDM, 'migrate', '--config', configFile, '--no-verify', '--no-progress', '--json'], { env: m.env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code, signal) => {
          if (code !== 0 && signal !== 'SIGKILL') log(`hdm migrate exited ${code}: ${stderr}`);
          resolve(signal === 'SIGKILL' ? null : code);
        }),
      );
      return { child, exited };
    };

    let current = spawnMigrate();
    let next = 0;
    for (;;) {
      const done = await Promise.race([current.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 200))]);
      if (done) {
        const code = await current.exited;
        exits.push(code);
        if (code !== null && code !== 0) log(`failures after exit ${code}: ${await failuresOf(configFile, m.env)}`);
        if (code === 0 && next >= plan.length) break;
        if (exits.length > plan.length + 4) break;
        current = spawnMigrate();
        continue;
      }
      const progress = m.target.counts().ticket / Math.max(1, sourceTickets);
      if (next < plan.length && progress >= points[next]) {
        const event = plan[next++];
        events.push(`${event} at ${Math.round(progress * 100)}%`);
        log(`${event} at ${Math.round(progress * 100)}% of tickets`);
        if (event === 'kill') {
          current.child.kill('SIGKILL');
        } else {
          await targetProxy.down();
          await new Promise((r) => setTimeout(r, options.outageMs));
          await targetProxy.up();
        }
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const out = captureOutput();
    await verifyCommand(parseMigrationConfig(m.config), { json: true }, out, m.env);
    const hits: Record<string, number> = {};
    for (const counts of [sourceProxy.counts(), targetProxy.counts()]) for (const [kind, n] of Object.entries(counts)) hits[kind] = (hits[kind] ?? 0) + n;
    return {
      seconds,
      exits,
      events,
      hits,
      requests: { source: m.source.requestsServed(), target: m.target.requestsServed() },
      sourceTickets,
      targetTickets: m.target.counts().ticket,
      report: JSON.parse(out.stdout.join('\n')) as VerifyReport,
    };
  } finally {
    await Promise.allSettled([sourceProxy.close(), targetProxy.close()]);
    await m.close();
  }
}
