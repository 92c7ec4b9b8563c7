import { writeFileSync } from 'node:fs';
import { PRIVATE_FILE, privateDir } from '../common/private-files.ts';
import { redactor } from '../../schemas/redact.ts';
import { join } from 'node:path';
import type { DemoRecord, DemoReport, FieldCheck } from './demo.ts';
import { formatTransforms, tallyTransforms, transformOf, type TransformKind } from '../mapper/transforms.ts';

const esc = (value: unknown) =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const short = (value: unknown, max = 160) => {
  const text = value === undefined ? '—' : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
};

function tally(checks: FieldCheck[]): string {
  const by = (s: FieldCheck['status']) => checks.filter((c) => c.status === s).length;
  const parts = [`${by('ok')}/${checks.length} fields ok`];
  if (by('lost')) parts.push(`${by('lost')} not preservable (${checks.filter((c) => c.status === 'lost').map((c) => c.field).join(', ')})`);
  if (by('differs')) parts.push(`${by('differs')} DIFFER (${checks.filter((c) => c.status === 'differs').map((c) => c.field).join(', ')})`);
  return parts.join(', ');
}

function recordLine(r: DemoRecord): string[] {
  const head = `${r.entity} ${r.sourceId} → ${r.targetId ?? '—'}  ${r.outcome}${r.action !== 'none' ? `/${r.action}` : ''}${r.rule ? ` (${r.rule})` : ''}`;
  const lines = [head];
  if (r.checks.length) lines.push(`    ${tally(r.checks)}${r.carriesSourceId === false ? '; NOT found on the target by its source ID' : ''}`);
  if (r.error) lines.push(`    error: ${r.error}`);
  if (r.originals?.length) lines.push(`    kept visibly: ${r.originals.join('; ')}`);
  for (const note of r.notes) if (transformOf(note)) lines.push(`    ${note}`);
  lines.push(`    ${r.sourceUrl}`);
  if (r.targetUrl) lines.push(`    ${r.targetUrl}`);
  return lines;
}

/** The report as text for a terminal. */
export function formatDemo(report: DemoReport, files: { html: string; json: string } | null): string {
  const lines = [`demo ${report.runId}: ${report.records.length} records from ${report.source.platform} to ${report.target.platform} (${report.selection} selection)`];
  for (const r of report.records) lines.push(...recordLine(r));
  const moved = Object.entries(report.loaded).map(
    ([entity, actions]) => `${entity} ${Object.entries(actions).map(([action, n]) => `${n} ${action}`).join('/')}`,
  );
  lines.push('', `moved with what they reference: ${moved.join(', ') || 'nothing'}`);
  const counts: Partial<Record<TransformKind, number>> = {};
  for (const r of report.records) tallyTransforms(r.notes, counts);
  const transforms = formatTransforms(counts);
  if (transforms) lines.push(`transformations applied to these records:\n${transforms}`);
  if (report.reassigned.length) lines.push(`re-assigned to the default agent: ${report.reassigned.length} reference(s), e.g. ${report.reassigned[0].detail}`);
  if (report.mapping.reassigned.length) lines.push(`agents whose work goes to ${report.mapping.defaultAgent ?? 'the default agent'}: ${report.mapping.reassigned.map((a) => `${a.email} (${a.reason})`).join(', ')}`);
  for (const f of report.mapping.fields.filter((x) => x.fallback)) lines.push(`field ${f.sourceKey}: the target has no ${f.targetType} type; stored as ${f.fallback}`);
  lines.push(report.ok ? 'every record arrived as planned, apart from what the target cannot preserve' : 'some records failed or differ: see above');
  if (files) lines.push(`report: ${files.html} · ${files.json}`);
  return lines.join('\n');
}

function checkRows(checks: FieldCheck[]): string {
  return checks
    .map(
      (c) => `<tr class="${c.status}"><td>${esc(c.field)}</td><td>${esc(c.status === 'lost' ? 'not preservable' : c.status)}</td><td><code>${esc(short(c.expected))}</code></td><td><code>${esc(short(c.actual))}</code></td><td>${c.differences
        .slice(0, 5)
        .map((d) => `${esc(d.path)}: ${esc(short(d.expected, 60))} → ${esc(short(d.actual, 60))}`)
        .join('<br>')}${c.limitations.map((l) => `<div class="limit">${esc(l)}</div>`).join('')}</td></tr>`,
    )
    .join('\n');
}

/** The report as a self-contained HTML page. */
export function demoHtml(report: DemoReport): string {
  const records = report.records
    .map(
      (r) => `<section class="record ${r.checks.some((c) => c.status === 'differs') || r.outcome === 'failed' || r.error ? 'bad' : 'good'}">
<h2>${esc(r.entity)} <a href="${esc(r.sourceUrl)}">${esc(r.sourceId)}</a> → ${r.targetUrl ? `<a href="${esc(r.targetUrl)}">${esc(r.targetId)}</a>` : '—'} <small>${esc(r.outcome)} / ${esc(r.action)}${r.rule ? ` (${esc(r.rule)})` : ''}</small></h2>
<p>stamp <code>${esc(r.stamp)}</code>${r.carriesSourceId === null ? '' : r.carriesSourceId ? ' — found on the target by it' : ' — <b>not</b> found on the target by it'}${r.checks.length ? ` · ${esc(tally(r.checks))}` : ''}</p>
${r.error ? `<p class="error">${esc(r.error)}</p>` : ''}
${r.originals?.length ? `<p class="originals">kept visibly: ${r.originals.map(esc).join(' · ')}</p>` : ''}
${r.notes.length ? `<ul class="notes">${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
${r.checks.length ? `<table><thead><tr><th>field</th><th>check</th><th>planned</th><th>on the target</th><th>details</th></tr></thead><tbody>${checkRows(r.checks)}</tbody></table>` : ''}
</section>`,
    )
    .join('\n');
  const counts = Object.entries(report.loaded)
    .map(([entity, actions]) => `<tr><td>${esc(entity)}</td><td>${esc(Object.entries(actions).map(([action, n]) => `${n} ${action}`).join(', '))}</td></tr>`)
    .join('');
  const fields = report.mapping.fields
    .map((f) => `<tr><td>${esc(f.sourceKey)}</td><td>${esc(f.sourceType)}</td><td>${esc(f.targetKey ?? '—')}</td><td>${esc(f.action)}</td><td>${esc(f.fallback ?? '')}</td></tr>`)
    .join('');
  const agents = report.mapping.reassigned.map((a) => `<li>${esc(a.name)} &lt;${esc(a.email)}&gt; — ${esc(a.reason)}</li>`).join('');
  const limits = report.limitations.map((l) => `<li><code>${esc(l.entity)}.${esc(l.field)}</code>: ${esc(l.description)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo ${esc(report.runId)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5rem 0;width:100%}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
tr.ok td:nth-child(2){color:#176d2c}tr.lost td:nth-child(2){color:#8a6100}tr.differs td:nth-child(2){color:#b00020;font-weight:bold}
section.record{border-left:4px solid #176d2c;padding-left:1rem;margin:1.5rem 0}section.record.bad{border-color:#b00020}
code{font-size:12px;word-break:break-all}.limit{color:#8a6100;font-size:12px}.error{color:#b00020}
</style></head><body>
<h1>Demo ${esc(report.runId)}</h1>
<p>${esc(report.migration)}: ${esc(report.source.platform)} → ${esc(report.target.platform)}, ${report.records.length} records (${esc(report.selection)} selection), ${esc(report.startedAt)} – ${esc(report.finishedAt)}.
<b>${report.ok ? 'Every record arrived as planned, apart from what the target cannot preserve.' : 'Some records failed or differ.'}</b></p>
<h2>Moved, with what the records reference</h2>
<table><thead><tr><th>entity</th><th>records</th></tr></thead><tbody>${counts}</tbody></table>
<h2>Custom fields</h2>
<table><thead><tr><th>source field</th><th>type</th><th>target field</th><th>action</th><th>stored as (no such type on the target)</th></tr></thead><tbody>${fields}</tbody></table>
<h2>Agents whose work goes to ${esc(report.mapping.defaultAgent ?? 'the default agent')}</h2><ul>${agents || '<li>none</li>'}</ul>
${records}
<h2>What ${esc(report.target.platform)} cannot preserve</h2><ul>${limits || '<li>nothing declared</li>'}</ul>
</body></html>
`;
}

/** Writes a demo's report as `<dir>/<run>.json` and `<dir>/<run>.html`; returns both paths. */
export function writeDemoReport(report: DemoReport, dir: string): { html: string; json: string } {
  privateDir(dir);
  const files = { html: join(dir, `${report.runId}.html`), json: join(dir, `${report.runId}.json`) };
  // Redacted before rendering too: HTML escaping would otherwise change a secret's spelling past the redactor.
  const safe = redactor.redactDeep(report);
  writeFileSync(files.json, redactor.redact(`${JSON.stringify(safe, null, 2)}\n`), { mode: PRIVATE_FILE });
  writeFileSync(files.html, redactor.redact(demoHtml(safe)), { mode: PRIVATE_FILE });
  return files;
}
