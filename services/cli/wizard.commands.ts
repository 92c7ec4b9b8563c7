import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { HdmError } from '../../connectors/sdk/errors.ts';
import { parseMigrationConfig, type MigrationConfig } from '../../schemas/config.ts';
import { readPlatformSchema } from '../mapper/platform-schema.ts';
import { suggestMapping } from '../mapper/suggest.ts';
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
