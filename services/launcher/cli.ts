#!/usr/bin/env -S npx tsx
/**
 * `tsx services/launcher/cli.ts up|down|reset|status [rt] [--name <instance>] [--port <n>]`
 * Starts the real services the tests and demos migrate to and from (today: Request Tracker 5).
 */
import { destroyRt, ensureRt, rtStateDir, stopRt } from './rt.launcher.ts';

const SERVICES = ['rt'];

function parse(argv: string[]): { command: string; services: string[]; name?: string; port?: number } {
  const [command = 'status', ...rest] = argv;
  const services: string[] = [];
  let name: string | undefined;
  let port: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--name') name = rest[++i];
    else if (rest[i] === '--port') port = Number(rest[++i]);
    else services.push(rest[i]);
  }
  for (const s of services) if (!SERVICES.includes(s)) throw new Error(`unknown service "${s}"; expected one of ${SERVICES.join(', ')}`);
  return { command, services: services.length ? services : SERVICES, name, port };
}

async function main(): Promise<void> {
  const { command, name, port } = parse(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`[rt] ${line}\n`);
  switch (command) {
    case 'up': {
      const rt = await ensureRt({ name, port, log });
      const t = rt.timings;
      log(`install ${(t.installMs / 1000).toFixed(1)}s · init ${(t.initMs / 1000).toFixed(1)}s · start ${(t.startMs / 1000).toFixed(1)}s`);
      process.stdout.write(`RT_URL=${rt.url}\nRT_TOKEN=${rt.token}\n`);
      return;
    }
    case 'reset': {
      const rt = await ensureRt({ name, port, log });
      await rt.reset();
      process.stdout.write(`RT_URL=${rt.url}\nRT_TOKEN=${rt.token}\n`);
      return;
    }
    case 'down':
      await stopRt({ name });
      log(`stopped instance "${name ?? 'default'}"`);
      return;
    case 'destroy':
      await destroyRt({ name });
      log(`removed instance "${name ?? 'default'}"`);
      return;
    case 'status':
      process.stdout.write(`state directory: ${rtStateDir()}\n`);
      return;
    default:
      throw new Error(`unknown command "${command}"; expected up, down, reset, destroy or status`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
