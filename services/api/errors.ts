import { HdmError, type ErrorCode } from '../../schemas/errors.ts';
import { redactor } from '../../schemas/redact.ts';

/** An answer the API gives on purpose: a status, a fixed code, a message fit for the caller. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** HTTP status for each engine error code; what the platforms or the ledger did wrong is a 5xx of ours. */
export const STATUS_OF: Readonly<Record<ErrorCode, number>> = Object.freeze({
  CONFIG_INVALID: 400,
  INVALID_RECORD: 400,
  UNRESOLVED_REFERENCE: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  NOT_READY: 409,
  RETENTION_EXPIRED: 410,
  AUTH_FAILED: 502,
  REJECTED: 502,
  ATTACHMENT_FAILED: 502,
  UNREACHABLE: 502,
  SERVER_ERROR: 502,
  OUTCOME_UNKNOWN: 502,
  BAD_RESPONSE: 502,
  RATE_LIMITED: 503,
  LEDGER_FAILED: 503,
  TIMEOUT: 504,
  INTERRUPTED: 503,
  INTERNAL: 500,
});

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/**
 * The body and status for anything thrown by a route. Messages are redacted of every known secret;
 * causes, stacks and response bodies of the platforms never leave the server; an unexpected error
 * says only that it happened.
 */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof ApiError) {
    return { status: err.status, body: { error: { code: err.code, message: redactor.redact(err.message), ...(err.details ? { details: err.details } : {}) } } };
  }
  if (err instanceof HdmError) {
    const status = STATUS_OF[err.code] ?? 500;
    const message = status === 500 ? 'internal error' : redactor.redact(err.message);
    return { status, body: { error: { code: err.code, message } } };
  }
  const fastifyError = err as { statusCode?: number; code?: string };
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const status = fastifyError.statusCode;
    const message =
      status === 415 ? 'unsupported content type: send application/json or application/yaml' : status === 413 ? 'request body too large' : 'malformed request';
    return { status, body: { error: { code: 'BAD_REQUEST', message } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
}
