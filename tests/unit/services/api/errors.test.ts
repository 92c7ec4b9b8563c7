import { describe, expect, it } from 'vitest';
import { HdmError } from '../../../../schemas/errors.ts';
import { ApiError, errorResponse } from '../../../../services/api/errors.ts';
import { redactor } from '../../../../schemas/redact.ts';

describe('errorResponse', () => {
  it('maps engine codes to statuses', () => {
    expect(errorResponse(new HdmError('CONFIG_INVALID', 'x')).status).toBe(400);
    expect(errorResponse(new HdmError('NOT_READY', 'x')).status).toBe(409);
    expect(errorResponse(new HdmError('RETENTION_EXPIRED', 'x')).status).toBe(410);
    expect(errorResponse(new HdmError('AUTH_FAILED', 'x')).status).toBe(502);
    expect(errorResponse(new HdmError('UNREACHABLE', 'x')).status).toBe(502);
    expect(errorResponse(new HdmError('LEDGER_FAILED', 'x')).status).toBe(503);
    expect(errorResponse(new HdmError('TIMEOUT', 'x')).status).toBe(504);
    expect(errorResponse(new ApiError(409, 'RUN_ACTIVE', 'busy'))).toEqual({ status: 409, body: { error: { code: 'RUN_ACTIVE', message: 'busy' } } });
  });

  it('never passes on a secret, a cause, a platform response body or a stack', () => {
    const secret = 'zd-token-5f1c0e9a7b3d';
    redactor.add(secret);
    const err = new HdmError('AUTH_FAILED', `zendesk refused ${secret}`, { cause: new Error(`inner ${secret}`), context: { body: { token: secret }, httpStatus: 401 } });
    const out = JSON.stringify(errorResponse(err));
    expect(out).not.toContain(secret);
    expect(out).not.toContain('inner');
    expect(out).not.toContain('httpStatus');
    const internal = errorResponse(new HdmError('INTERNAL', `boom at /srv/app.ts:12 ${secret}`));
    expect(internal).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } });
    const plain = errorResponse(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(plain).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } });
  });
});
