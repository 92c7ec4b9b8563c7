import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { platform } from '../../connectors/registry.ts';
import type { RunningSandbox, SandboxOptions } from '../../connectors/sdk/platform.ts';
import { deltaCommand, migrateCommand, verifyCommand, type Output } from '../../services/cli/commands.ts';
import { parseMigrationConfig, type MigrationConfig } from '../../schemas/config.ts';
import { type FaithfulOptions, sandboxOptions } from './sandbox-options.ts';

/** A sandbox's options in a migration environment: the platform's own (e.g. Zendesk's `plan`) included, opt-outs with their reason. */
export type EnvSandboxOptions = FaithfulOptions<SandboxOptions> & Record<string, unknown>;

/** Two sandboxes, a state directory and a migration file between them. */
export interface MigrationEnv {
  source: RunningSandbox;
  target: RunningSandbox;
  dir: string;
  configFile: string;
  env: NodeJS.ProcessEnv;
  config: Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * The engine paces Zendesk's exports by its plan table (they carry no rate-limit headers): a sandbox that
 * lifts the export limit (`unthrottledExports`) is read with `plan: none`, no pacing ahead of a 429, so the
 * opt-out lifts the limit at both ends, and so does `unthrottled`. With `unthrottledExports` the sandbox still
 * answers 429 for every other bucket it enforces.
 */
export function enginePacing(options: EnvSandboxOptions): { plan?: 'none' } {
  return options.unthrottledExports === undefined && options.unthrottled === undefined ? {} : { plan: 'none' };
}

/**
 * Two sandboxes with the platforms' documented defaults (the Enterprise plan's limits with their endpoint
 * buckets; Zendesk's exports without the last minute) unless the options opt out with a reason
 * (`unthrottled`, `immediateExports`: tests/helpers/sandbox-options.ts).
 */
export async function migrationEnv(
  from: string,
  to: string,
  /** Passed to the source sandbox; platform options (e.g. Zendesk's `plan`) included. */
  sourceOptions: EnvSandboxOptions,
  extra: Record<string, unknown> = {},
  /** Passed to the target sandbox, as `sourceOptions` to the source. Default: an empty helpdesk, seed 999. */
  targetOptions: EnvSandboxOptions = {},
): Promise<MigrationEnv> {
  const source = await (await platform(from)).startSandbox(sandboxOptions<SandboxOptions>(sourceOptions));
  const target = await (await platform(to)).startSandbox(sandboxOptions<SandboxOptions>({ tickets: 0, seed: 999, ...targetOptions }));
  const dir = mkdtempSync(join(tmpdir(), 'hdm-e2e-'));
  const config = {
    name: `e2e-${from}-${to}`,
    source: { platform: from, url: source.url, concurrency: 8, ...enginePacing(sourceOptions) },
    target: { platform: to, url: target.url, concurrency: 8, ...enginePacing(targetOptions) },
    stateDir: join(dir, 'state'),
    ...extra,
  };
  const configFile = join(dir, 'migration.yaml');
  writeFileSync(configFile, stringify(config));
  return {
    source,
    target,
    dir,
    configFile,
    config,
    env: { ...process.env, ...source.env, ...target.env },
    async close() {
      await Promise.allSettled([source.close(), target.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Captures a command's output. */
export function captureOutput(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

/** `hdm migrate --json` on the environment's migration: exit code and the JSON result. */
export async function migrateJson(m: MigrationEnv, config: Readonly<MigrationConfig> = parseMigrationConfig(m.config), flags: { verify?: boolean } = {}) {
  const out = captureOutput();
  const code = await migrateCommand(config, { json: true, progress: false, ...flags }, out, m.env);
  return { code, result: JSON.parse(out.stdout.join('\n')) };
}

/** `hdm verify --json`: exit code and the report. */
export async function verifyJson(m: MigrationEnv, config: Readonly<MigrationConfig> = parseMigrationConfig(m.config)) {
  const out = captureOutput();
  const code = await verifyCommand(config, { json: true }, out, m.env);
  return { code, report: JSON.parse(out.stdout.join('\n')) };
}

/** One `hdm delta --json` pass: exit code and the pass. */
export async function deltaJson(m: MigrationEnv, config: Readonly<MigrationConfig> = parseMigrationConfig(m.config)) {
  const out = captureOutput();
  const code = await deltaCommand(config, { json: true }, out, m.env);
  return { code, pass: JSON.parse(out.stdout[0]!) };
}
