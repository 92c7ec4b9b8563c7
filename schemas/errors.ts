import { redactor } from './redact.ts';

/**
 * Every error the engine raises carries a fixed `code`, a `retryable` flag and visible context.
 * Callers decide by code, never by parsing a message.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'AUTH_FAILED'
  | 'UNREACHABLE'
  | 'RATE_LIMITED'
  | 'SERVER_ERROR'
  | 'NOT_FOUND'
  | 'REJECTED'
  | 'INVALID_RECORD'
  | 'UNRESOLVED_REFERENCE'
  | 'ATTACHMENT_FAILED'
  | 'TIMEOUT'
  | 'OUTCOME_UNKNOWN'
  | 'BAD_RESPONSE'
  | 'INTERRUPTED'
  | 'CONFLICT'
  | 'LEDGER_FAILED'
  | 'NOT_READY'
  | 'RETENTION_EXPIRED'
  | 'INTERNAL';

export interface ErrorContext {
  platform?: string;
  entity?: string;
  recordId?: string;
  field?: string;
  httpStatus?: number;
  method?: string;
  path?: string;
  topic?: string;
  offset?: string;
  /** seconds the server asked us to wait */
  retryAfter?: number;
  [key: string]: unknown;
}

export class HdmError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly context: ErrorContext;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable?: boolean; context?: ErrorContext; cause?: unknown } = {},
  ) {
    // Redacted at birth: an error's message and context travel to logs, the ledger, reports and the API.
    super(redactor.redact(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HdmError';
    this.code = code;
    this.retryable = options.retryable ?? (code === 'RATE_LIMITED' || code === 'SERVER_ERROR' || code === 'UNREACHABLE' || code === 'TIMEOUT' || code === 'OUTCOME_UNKNOWN');
    this.context = redactor.redactDeep(options.context ?? {});
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean; context: ErrorContext } {
    return { code: this.code, message: this.message, retryable: this.retryable, context: this.context };
  }
}

export function isHdmError(value: unknown): value is HdmError {
  return value instanceof HdmError;
}

/** Wraps anything thrown into an HdmError, keeping the original as `cause`. */
export function toHdmError(value: unknown, fallback: ErrorCode = 'INTERNAL', context: ErrorContext = {}): HdmError {
  if (value instanceof HdmError) {
    return Object.keys(context).length === 0
      ? value
      : new HdmError(value.code, value.message, { retryable: value.retryable, context: { ...value.context, ...context }, cause: value.cause });
  }
  const message = value instanceof Error ? value.message : String(value);
  return new HdmError(fallback, message, { context, cause: value });
}
