import type { RunInfo } from '../ledger/ledger.ts';
import { lagOf } from './cutover.ts';
import type { MigrationHandle } from './migrations.ts';

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** Prometheus text exposition (format 0.0.4). */
export function renderPrometheus(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',');
      lines.push(`${f.name}${labels ? `{${labels}}` : ''} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Metrics of every served migration; `runs` holds each migration's ledger runs (for delta lag). */
export function collectMetrics(handles: MigrationHandle[], runs: Map<string, RunInfo[]>): string {
  const fam = (name: string, type: Family['type'], help: string): Family => ({ name, type, help, samples: [] });
  const read = fam('hdm_records_read_total', 'counter', 'Canonical records read from the source (a ticket counts itself and each comment), since the API started');
  const stage = fam('hdm_records_total', 'counter', 'Records per pipeline stage (mapped, loaded, failed, filtered), since the API started');
  const canonical = fam('hdm_canonical_records_loaded_total', 'counter', 'Canonical records loaded on the target, since the API started');
  const active = fam('hdm_run_active', 'gauge', '1 while a run of this kind is in progress');
  const lag = fam('hdm_delta_lag_seconds', 'gauge', 'Source change to target write in the latest delta pass, by quantile');
  const lagAge = fam('hdm_delta_last_pass_age_seconds', 'gauge', 'Seconds since the latest delta pass ended');
  const headroom = fam('hdm_rate_limit_remaining', 'gauge', 'Requests left in the current rate-limit window, as the platform last reported');
  const requests = fam('hdm_http_requests_total', 'counter', 'HTTP requests sent to a platform');
  const limited = fam('hdm_http_rate_limited_total', 'counter', 'HTTP 429 answers received from a platform');
  const retries = fam('hdm_http_retries_total', 'counter', 'HTTP requests retried (429, 5xx, network)');

  for (const h of handles) {
    const migration = h.name;
    for (const [entity, c] of h.progress.total) {
      read.samples.push({ labels: { migration, entity }, value: c.read });
      for (const s of ['mapped', 'loaded', 'failed', 'filtered'] as const) stage.samples.push({ labels: { migration, entity, stage: s }, value: c[s] });
    }
    canonical.samples.push({ labels: { migration }, value: h.progress.canonicalLoaded });
    for (const kind of ['full', 'delta', 'verify']) active.samples.push({ labels: { migration, kind }, value: h.active?.job.kind === kind ? 1 : 0 });
    const lastDelta = (runs.get(migration) ?? []).filter((r) => r.kind === 'delta' && r.status === 'succeeded').at(-1);
    if (lastDelta) {
      const l = lagOf(lastDelta) ?? { p50: 0, p95: 0 };
      lag.samples.push({ labels: { migration, quantile: '0.5' }, value: l.p50 }, { labels: { migration, quantile: '0.95' }, value: l.p95 });
      lagAge.samples.push({ labels: { migration }, value: Math.max(0, (Date.now() - Date.parse(lastDelta.finishedAt ?? lastDelta.startedAt)) / 1000) });
    }
    const runtime = h.current;
    if (runtime) {
      for (const [side, connector] of [['source', runtime.source], ['target', runtime.target]] as const) {
        const stats = connector.httpStats?.();
        if (!stats) continue;
        const labels = { migration, side, platform: connector.platform };
        requests.samples.push({ labels, value: stats.requests });
        limited.samples.push({ labels, value: stats.rateLimited });
        retries.samples.push({ labels, value: stats.retries });
        if (stats.remaining !== null) headroom.samples.push({ labels, value: stats.remaining });
      }
    }
  }
  return renderPrometheus([read, stage, canonical, active, lag, lagAge, headroom, requests, limited, retries]);
}
