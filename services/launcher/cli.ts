#!/usr/bin/env -S npx tsx
/**
 * `tsx services/launcher/cli.ts up|down|reset|status [rt] [chromium] [--name <instance>] [--port <n>]`
 * Starts the real services the tests and demos migrate to and from (Request Tracker 5), and installs
 * the browser the dashboard's tests drive (Debian's Chromium).
 */
import { ensureChromium } from './chromium.launcher.ts';
import { destroyRt, ensureRt, rtStateDir, stopRt } from './rt.launcher.ts';

const SERVICES = ['rt', 'chromium'];

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
  const { command, services, name, port } = parse(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`[rt] ${line}\n`);
  if (command === 'up' && services.includes('chromium')) {
    const chromium = await ensureChromium({ log: (line) => process.stderr.write(`[chromium] ${line}\n`) });
    process.stdout.write(`CHROMIUM=${chromium.path}\n`);
    if (!services.includes('rt')) return;
  }
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
