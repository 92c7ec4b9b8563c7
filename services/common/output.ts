import { redactor } from '../../schemas/redact.ts';

/** Where a command prints: standard output and error for the CLI, a buffer in tests. Redacted on the way out. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const stdio: Output = {
  out: (text) => process.stdout.write(`${redactor.redact(text)}\n`),
  err: (text) => process.stderr.write(`${redactor.redact(text)}\n`),
};
