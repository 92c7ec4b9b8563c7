import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import { PRIVATE_FILE, privateDir } from './private-files.ts';
import { redactor } from '../../schemas/redact.ts';

export type { Logger };

/**
 * Structured logs (JSON lines). Every string passes through the redactor, and credential-shaped
 * keys are censored, so a secret cannot reach a log even inside an error message.
 */
export function createLogger(options: { file?: string; level?: string } = {}): Logger {
  const level = options.level ?? process.env.HDM_LOG_LEVEL ?? 'info';
  let destination: pino.DestinationStream;
  if (options.file) {
    privateDir(dirname(options.file));
    // Synchronous: log lines are few (phases, failures) and must survive a kill.
    destination = pino.destination({ dest: options.file, sync: true, mkdir: true, mode: PRIVATE_FILE });
  } else {
    destination = pino.destination(2);
  }
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['credentials', '*.credentials', 'apiToken', '*.apiToken', 'apiKey', '*.apiKey', 'password', '*.password', 'authorization', '*.authorization', 'headers.authorization'],
        censor: '***',
      },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        streamWrite: (line) => redactor.redact(line),
      },
    },
    destination,
  );
}

/** A logger that writes nothing, for library use and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
