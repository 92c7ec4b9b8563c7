import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The pinned client libraries (zenpy, python-freshdesk) and their dependencies. */
export const PYTHON_REQUIREMENTS = join(ROOT, 'tests/integration/sandboxes/python/requirements.txt');
/** Git-ignored; kept between runs and rebuilt when the requirements or the interpreter change. */
export const PYTHON_ENV_DIR = join(ROOT, '.hdm/pyenv');
const STAMP = join(PYTHON_ENV_DIR, 'installed.sha256');

export interface PythonClients {
  /** Interpreter to run the scenario scripts with. */
  python: string;
  /** Environment additions the interpreter needs (PYTHONPATH for a `--target` install). */
  env: Record<string, string>;
  /** `venv`: a virtual environment; `target`: the system interpreter with packages installed into a folder. */
  kind: 'venv' | 'target';
  /** Seconds spent creating the environment and installing; 0 when an up-to-date one was reused. */
  setupSeconds: number;
}

/**
 * A Python environment with the pinned clients, created on first use. A virtual environment when the
 * interpreter has `venv` and `ensurepip` (Debian splits them into python3-venv); otherwise the
 * interpreter's own pip installs into a folder that PYTHONPATH points at. Either way only PyPI is used.
 */
export async function pythonClients(interpreter = process.env.HDM_PYTHON ?? 'python3'): Promise<PythonClients> {
  const version = (await run(interpreter, ['-c', 'import sys; print(sys.version)'])).stdout.trim();
  const stamp = createHash('sha256')
    .update(version)
    .update(await readFile(PYTHON_REQUIREMENTS))
    .digest('hex');
  const venvPython = join(PYTHON_ENV_DIR, 'bin', 'python');
  const site = join(PYTHON_ENV_DIR, 'site');
  const existing = existsSync(STAMP) ? (await readFile(STAMP, 'utf8')).trim().split(' ') : [];
  if (existing[0] === stamp) {
    return existing[1] === 'target'
      ? { python: interpreter, env: { PYTHONPATH: site }, kind: 'target', setupSeconds: 0 }
      : { python: venvPython, env: {}, kind: 'venv', setupSeconds: 0 };
  }

  const started = performance.now();
  await rm(PYTHON_ENV_DIR, { recursive: true, force: true });
  await mkdir(PYTHON_ENV_DIR, { recursive: true });
  const pip = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', '-r', PYTHON_REQUIREMENTS];
  let result: Omit<PythonClients, 'setupSeconds'>;
  try {
    await run(interpreter, ['-m', 'venv', PYTHON_ENV_DIR]);
    await run(venvPython, pip, { maxBuffer: 16 << 20 });
    result = { python: venvPython, env: {}, kind: 'venv' };
  } catch (venvError) {
    await rm(PYTHON_ENV_DIR, { recursive: true, force: true });
    try {
      await run(interpreter, [...pip, '--target', site], { maxBuffer: 16 << 20 });
    } catch (targetError) {
      throw new Error(
        `Cannot set up the Python clients with ${interpreter}: neither a virtual environment (${firstLine(venvError)}) ` +
          `nor pip --target (${firstLine(targetError)}) works. Install python3-venv or python3-pip, or set HDM_PYTHON.`,
      );
    }
    result = { python: interpreter, env: { PYTHONPATH: site }, kind: 'target' };
  }
  // Written last: an interrupted install leaves no stamp and is redone next time.
  await writeFile(STAMP, `${stamp} ${result.kind}\n`);
  return { ...result, setupSeconds: (performance.now() - started) / 1000 };
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split('\n').slice(-1)[0];
}

/** Runs one scenario of a script and parses the JSON it prints last; a failing script rejects with its stderr. */
export async function runPythonScenario<T = Record<string, unknown>>(
  clients: PythonClients,
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<T> {
  try {
    const { stdout } = await run(clients.python, [script, ...args], {
      env: { ...process.env, ...clients.env, ...env, PYTHONDONTWRITEBYTECODE: '1' },
      maxBuffer: 64 << 20,
      timeout: 120_000,
    });
    const lines = stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1]) as T;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message?: string };
    throw new Error(`${script} ${args.join(' ')} failed:\n${e.stderr || e.message}\n${e.stdout ?? ''}`);
  }
}
