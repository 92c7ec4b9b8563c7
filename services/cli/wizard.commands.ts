import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { HdmError } from '../../schemas/errors.ts';
import { parseMigrationConfig, type MigrationConfig } from '../../schemas/config.ts';
import { readPlatformSchema } from '../mapper/platform-schema.ts';
import { suggestMapping } from '../mapper/suggest.ts';
import { preflight } from '../mapper/preflight.ts';
import { runDemo, sourceRecords } from '../demo/demo.ts';
import { formatDemo, writeDemoReport } from '../demo/demo.report.ts';
import { openRuntime } from '../runtime/runtime.ts';
import { stdio, type Output } from './commands.ts';

/** `hdm mapping suggest`: reads both platforms' schemas and writes a complete starting mapping. */
export async function suggestCommand(
  file: string,
  config: Readonly<MigrationConfig>,
  flags: { out?: string },
  io: Output = stdio,
  env = process.env,
): Promise<number> {
  const raw = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const runtime = await openRuntime(config, env);
  try {
    await Promise.all([runtime.source.check(), runtime.target.check()]);
    const [source, target] = await Promise.all([readPlatformSchema(runtime.source), readPlatformSchema(runtime.target)]);
    const text = suggestMapping(raw, source, target);
    // What we write must itself be a valid migration file.
    parseMigrationConfig(parseYaml(text), 'the suggested mapping');
    if (flags.out) {
      writeFileSync(flags.out, text);
      io.err(
        `wrote ${flags.out}: ${source.ticketFields.length} fields, ${source.groups.length} groups, ${source.agents.length} agents from ${source.platform}; ${target.ticketFields.length} fields, ${target.groups.length} groups, ${target.agents.length} agents on ${target.platform}`,
      );
    } else io.out(text.trimEnd());
    return 0;
  } catch (err) {
    if (err instanceof HdmError) throw err;
    throw new HdmError('INTERNAL', `mapping suggest failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await runtime.close();
  }
}

export interface DemoFlags {
  tickets?: string[];
  articles?: string[];
  count?: number;
  pool?: number;
  resample?: boolean;
  json?: boolean;
  /** Directory for the HTML and JSON report. Default `<state dir>/demo`. */
  outDir?: string;
}

/**
 * `hdm demo`: a sample of tickets and articles through the migration's own pipeline, then a
 * field-by-field report of what arrived, printed and written as HTML and JSON.
 */
export async function demoCommand(config: Readonly<MigrationConfig>, flags: DemoFlags, io: Output = stdio, env = process.env): Promise<number> {
  const runtime = await openRuntime(config, env);
  try {
    // The user's IDs and the mapping are checked before anything reaches the target.
    if (flags.tickets?.length) await sourceRecords(runtime.source, 'ticket', flags.tickets);
    if (flags.articles?.length) await sourceRecords(runtime.source, 'kbArticle', flags.articles);
    const mapping = await preflight(config, runtime.source, runtime.target);
    const report = await runDemo(runtime, mapping, {
      tickets: flags.tickets,
      articles: flags.articles,
      count: flags.count,
      pool: flags.pool,
      resample: flags.resample,
      step: (message) => io.err(message),
    });
    const files = writeDemoReport(report, flags.outDir ?? join(runtime.stateDir, 'demo'));
    io.out(flags.json ? JSON.stringify({ ...report, files }, null, 2) : formatDemo(report, files));
    return report.ok ? 0 : 1;
  } finally {
    await runtime.close();
  }
}
