import { describe, expect, it } from 'vitest';
import { HdmError } from '../../../connectors/sdk/errors.ts';
import { parseMigrationConfig, resolveCredentials } from '../../../schemas/config.ts';

const valid = {
  name: 'acme',
  source: { platform: 'zendesk', url: 'https://acme.zendesk.com' },
  target: { platform: 'freshdesk', url: 'https://acme.freshdesk.com', credentials: { apiKey: { env: 'ACME_FD_KEY' } } },
};

function failure(input: unknown): HdmError {
  try {
    parseMigrationConfig(input, 'm.yaml');
  } catch (err) {
    return err as HdmError;
  }
  throw new Error('expected the config to be rejected');
}

describe('migration config', () => {
  it('fills defaults and freezes the result', () => {
    const config = parseMigrationConfig(valid);
    expect(config.options.loaderConcurrency).toBe(16);
    expect(config.entities).toContain('ticket');
    expect(config.ledger.clickhouseUrl).toBeNull();
    expect(Object.isFrozen(config.options)).toBe(true);
  });

  it('names the path, the value and what was expected for each problem', () => {
    const err = failure({ ...valid, source: { platform: 'zendsk', url: 'not a url' }, options: { loaderConcurrency: 0 } });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('m.yaml is invalid');
    expect(err.message).toMatch(/source\.platform: .*"zendesk".*got "zendsk"/);
    expect(err.message).toMatch(/source\.url: .*got "not a url"/);
    expect(err.message).toMatch(/options\.loaderConcurrency: .*got 0/);
  });

  it('rejects unknown keys instead of ignoring a typo', () => {
    expect(failure({ ...valid, optoins: {} }).message).toContain('optoins');
  });

  it('reads credentials from the environment and names a missing variable, never a value', () => {
    const config = parseMigrationConfig(valid);
    expect(resolveCredentials('target', config.target, { apiKey: 'FRESHDESK_API_KEY' }, { ACME_FD_KEY: 's3cret' })).toEqual({ apiKey: 's3cret' });
    const err = (() => {
      try {
        resolveCredentials('source', config.source, { email: 'ZENDESK_EMAIL', apiToken: 'ZENDESK_API_TOKEN' }, { ZENDESK_EMAIL: 'a@b.c' });
      } catch (e) {
        return e as HdmError;
      }
    })()!;
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('source.credentials.apiToken (environment variable ZENDESK_API_TOKEN)');
    expect(err.message).not.toContain('a@b.c');
  });
});
