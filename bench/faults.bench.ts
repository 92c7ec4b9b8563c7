import { faultRun, type FaultRunResult } from '../tests/helpers/fault-run.ts';
import { appendReport, benchArgs, machineLine  } from './common.ts';

/**
 * `npm run bench -- faults [--tickets 2000] [--rate 0.1]`: the same full migration (Zendesk sandbox into
 * an empty Freshdesk sandbox) once clean and once through faults — that share of requests failing at
 * random on both platforms (500/503, 429, resets, answers lost after the platform acted, 502s, cut JSON
 * bodies), two target outages and two SIGKILLs — and how much longer the second took; both verified.
 */

const HEADING = '## Faults (`npm run bench -- faults`)';
const INTRO =
  'A full migration once clean and once through fault-injecting proxies in front of both sandboxes: a share of API requests fails at random (500/503, 429 with Retry-After 1, connection resets, answers lost after the platform acted, 502s from a gateway, JSON bodies cut in half), the target goes away twice, and the migration process is killed twice and resumed; both end verified against the sandboxes directly.';

export async function main(argv: string[]): Promise<void> {
  const values = benchArgs(
    argv,
    {
      tickets: { type: 'string', default: '2000' },
      rate: { type: 'string', default: '0.1' },
      seed: { type: 'string', default: '20261204' },
      'outage-seconds': { type: 'string', default: '10' },
      'no-record': { type: 'boolean', default: false },
    },
    'npm run bench -- faults [--tickets 2000] [--rate 0.1] [--seed N] [--outage-seconds 10] [--no-record]\n' +
      'A clean run and a run through random faults, two target outages and two SIGKILLs; records the slowdown in docs/benchmarks.md.\n',
  );
  if (!values) return;
  const tickets = Number(values.tickets);
  const rate = Number(values.rate);
  const seed = Number(values.seed);
  const outageMs = Number(values['outage-seconds']) * 1000;
  const log = (line: string) => process.stderr.write(`bench faults: ${line}\n`);

  log(`clean run, ${tickets} tickets`);
  const clean = await faultRun({ from: 'zendesk', to: 'freshdesk', tickets, seed, faultRate: 0, outages: 0, outageMs, kills: 0, log });
  log(`clean: ${clean.seconds.toFixed(1)} s`);
  log(`faulty run, ${tickets} tickets, ${rate * 100}% of requests failing, 2 outages of ${outageMs / 1000} s, 2 SIGKILLs`);
  const faulty = await faultRun({ from: 'zendesk', to: 'freshdesk', tickets, seed, faultRate: rate, outages: 2, outageMs, kills: 2, log });
  log(`faulty: ${faulty.seconds.toFixed(1)} s`);

  const verdict = (r: FaultRunResult) => {
    const bad = Object.entries(r.report.entities).filter(([, s]) => s.missing + s.mismatched + s.duplicates + s.failed > 0);
    return r.report.clean && bad.length === 0 && r.targetTickets === r.sourceTickets ? 'clean' : `NOT CLEAN: ${bad.map(([e, s]) => `${e} ${JSON.stringify(s)}`).join('; ')}`;
  };
  const faults = Object.entries(faulty.hits).map(([k, n]) => `${k} ${n}`).join(', ');
  const machine = machineLine();
  const table = [
    '| run | seconds | × clean | source requests | target requests | processes (exit codes; — killed) | tickets on target / source | verify |',
    '|---|---|---|---|---|---|---|---|',
    ...[['clean', clean], ['faults', faulty]].map(([name, r]) => {
      const x = r as FaultRunResult;
      return `| ${name} | ${x.seconds.toFixed(1)} | ${(x.seconds / clean.seconds).toFixed(2)} | ${x.requests.source} | ${x.requests.target} | ${x.exits.map((c) => (c === null ? '—' : c)).join(', ')} | ${x.targetTickets} / ${x.sourceTickets} | ${verdict(x)} |`;
    }),
  ].join('\n');
  const detail = `Faults injected: ${faults}. Events: ${faulty.events.join(', ')}.`;
  process.stdout.write(`${machine}\n${table}\n${detail}\n`);
  if (!values['no-record']) {
    const date = new Date().toISOString().slice(0, 10);
    const block = `\n### ${date} · \`npm run bench -- faults --tickets ${tickets} --rate ${rate}\`\nMachine: ${machine}. Seed ${seed}.\n\n${table}\n\n${detail}\n`;
    appendReport(block, { heading: HEADING, intro: INTRO });
    log('recorded in docs/benchmarks.md');
  }
}
