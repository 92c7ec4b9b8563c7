import { platform } from '../../connectors/registry.ts';
import type { Connector } from '../../connectors/sdk/contract.ts';
import { resolveCredentials, type EndpointConfig, type MigrationConfig } from '../../schemas/config.ts';
import { estimateMigration, type Estimate } from '../estimate/estimate.ts';
import { redactor } from '../../schemas/redact.ts';
import { secretsOf } from '../runtime/runtime.ts';
import { stdio, type Output } from './commands.ts';

/** `3 h 25 min`, `12 min 5 s`, `40 s`. */
export function humanDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function formatEstimate(e: Estimate): string {
  const lines = [`${'entity'.padEnd(14)}${'records'.padStart(12)}  ${'counted by'.padEnd(11)}billable`];
  for (const [entity, c] of Object.entries(e.entities)) {
    lines.push(`${entity.padEnd(14)}${String(c!.count).padStart(12)}  ${(c!.method === 'count' ? 'count API' : 'full read').padEnd(11)}${c!.billable ? 'yes' : 'no'}`);
  }
  lines.push(`${'billable total'.padEnd(14)}${String(e.billable).padStart(12)}`);
  const how = e.conversation.exact ? 'exact' : `extrapolated from ${e.conversation.sampledTickets} tickets${e.conversation.drawn === 'across-ids' ? ' drawn across the ticket IDs' : ', the first ones read'}`;
  lines.push('', `not billable: ${e.conversation.comments} comments and notes, ${e.conversation.attachments} attachments (${how})`);
  if (e.perTicketReads) {
    const r = e.perTicketReads;
    lines.push(`tickets read with a request of their own: ${Math.round(r.share * 100)}% (${r.needed} of ${r.sampledTickets} sampled)${r.assumption ? `; assumes ${r.assumption}` : ''}`);
  }
  const side = (name: string, r: Estimate['source']) =>
    `${name} ${r.platform}: ${r.requestsPerMinute} requests/min (${r.rateFrom === 'config' ? 'migration file' : 'platform limit'}), ${r.concurrency} in flight ≈ ${r.concurrencyCeiling}/min at ${e.assumptions.latencyMs} ms`;
  lines.push('', side('source', e.source), side('target', e.target), '');
  lines.push(`${'phase'.padEnd(14)}${'source req'.padStart(12)}${'target req'.padStart(12)}${'duration'.padStart(16)}  limited by`);
  for (const p of e.phases) {
    lines.push(`${p.entity.padEnd(14)}${String(p.sourceRequests).padStart(12)}${String(p.targetRequests).padStart(12)}${humanDuration(p.seconds).padStart(16)}  ${p.limitedBy} (${p.bucket})`);
  }
  lines.push(`${'total'.padEnd(38)}${humanDuration(e.totalSeconds).padStart(16)}`);
  if (e.buckets.length > 0) {
    lines.push('', `${'limit bucket'.padEnd(30)}${'limit'.padStart(16)}${'requests'.padStart(10)}${'used'.padStart(10)}${'needs'.padStart(16)}`);
    for (const b of e.buckets) {
      const limit = b.kind === 'concurrent' ? `${b.limit} in flight` : `${b.limit} / ${b.windowSeconds % 60 === 0 ? `${b.windowSeconds / 60} min` : `${b.windowSeconds} s`}`;
      const needs = b.seconds === null ? '—' : humanDuration(b.seconds);
      lines.push(`${`${b.side} ${b.bucket}`.padEnd(30)}${limit.padStart(16)}${String(b.requests).padStart(10)}${String(b.used).padStart(10)}${needs.padStart(16)}${b.binding ? '  binding' : ''}`);
    }
    lines.push(`binding bucket: ${e.binding ?? 'none'} (no order of the work finishes sooner than it needs)`);
  }
  return lines.join('\n');
}

async function connect(side: 'source' | 'target', endpoint: EndpointConfig, env: NodeJS.ProcessEnv): Promise<Connector> {
  const module = await platform(endpoint.platform);
  const credentials = resolveCredentials(side, endpoint, module.credentialEnv, env);
  redactor.add(...secretsOf(credentials));
  return module.createConnector({ url: endpoint.url, credentials, concurrency: endpoint.concurrency, requestsPerMinute: endpoint.requestsPerMinute, plan: endpoint.plan, highVolume: endpoint.highVolume, comments: endpoint.comments });
}

/** `hdm estimate`: counts what would move and projects the duration per phase; writes nothing anywhere. */
export async function estimateCommand(
  config: Readonly<MigrationConfig>,
  flags: { json?: boolean; progress?: boolean; sampleTickets?: number; latencyMs?: number },
  io: Output = stdio,
  env = process.env,
): Promise<number> {
  const source = await connect('source', config.source, env);
  const target = await connect('target', config.target, env).catch(async (err) => {
    await source.close();
    throw err;
  });
  try {
    // check() also learns a plan's real limit where the platform tells it (Freshdesk's X-Ratelimit-Total).
    await Promise.all([source.check(), target.check()]);
    const showProgress = flags.progress !== false && !flags.json;
    let last = 0;
    const estimate = await estimateMigration(source, target, {
      entities: config.entities,
      source: config.source,
      target: config.target,
      sampleTickets: flags.sampleTickets,
      latencyMs: flags.latencyMs,
      onProgress: (entity, counted, method, done) => {
        if (!showProgress) return;
        if (done || Date.now() - last > 2000) {
          last = Date.now();
          io.err(`counting ${entity}: ${counted}${method === 'scan' ? ' (reading every record: the platform has no count for it)' : ''}${done ? '' : '…'}`);
        }
      },
    });
    io.out(flags.json ? JSON.stringify(estimate, null, 2) : formatEstimate(estimate));
    return 0;
  } finally {
    await Promise.allSettled([source.close(), target.close()]);
  }
}
