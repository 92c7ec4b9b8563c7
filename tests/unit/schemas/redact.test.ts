import { describe, expect, it } from 'vitest';
import { Redactor } from '../../../schemas/redact.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('the redactor', () => {
  it('finds a Freshdesk key inside the Basic-auth pair the client builds (apiKey:X), padded or not', () => {
    const key = 'fdKeyAbCdEf0123';
    const header = `Basic ${b64(`${key}:X`)}`;
    const r = new Redactor();
    r.add(key);
    r.addHeader(header);
    const echoed = `{"errors":[{"message":"bad header ${header}"}],"b":"${b64(`${key}:X`).replace(/=+$/, '')}"}`;
    const out = r.redact(echoed);
    expect(out).not.toContain(b64(`${key}:X`).replace(/=+$/, ''));
    expect(out).toContain('bad header ***');
  });

  it('finds a Zendesk token inside email/token:apiToken, which is not the base64 of the token alone', () => {
    // 23 characters before the token: its own base64 does not line up with the pair's.
    const pair = 'agnt@example.com/token:zdTok_9f8e7d6c';
    const r = new Redactor();
    r.add('zdTok_9f8e7d6c');
    expect(r.redact(b64(pair))).toBe(b64(pair)); // the reason the header must be registered
    r.addHeader(`Basic ${b64(pair)}`);
    expect(r.redact(`Authorization: Basic ${b64(pair)}`)).toBe('Authorization: ***');
    expect(r.redact(`pair ${pair}`)).toBe('pair ***');
  });

  it('finds an RT token after its scheme', () => {
    const r = new Redactor();
    r.addHeader('token 1-14-abcdef0123456789');
    expect(r.redact('echo: token 1-14-abcdef0123456789')).toBe('echo: ***');
    expect(r.redact('just 1-14-abcdef0123456789')).toBe('just ***');
  });

  it('finds JSON-escaped, doubly JSON-escaped, slash-escaped and URL-encoded forms', () => {
    const secret = 'se"cr\\et/k+y ok';
    const r = new Redactor();
    r.add(secret);
    const forms = [
      secret,
      JSON.stringify(secret).slice(1, -1),
      JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1),
      encodeURIComponent(secret),
      encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
      encodeURIComponent(secret).replace(/%20/g, '+'),
      encodeURIComponent(encodeURIComponent(secret)),
      b64(secret),
      Buffer.from(secret).toString('base64url'),
    ];
    for (const form of forms) expect(r.redact(`<${form}>`), form).toBe('<***>');
    const token = b64('user:p???word');
    r.addHeader(`Basic ${token}`);
    expect(token).toContain('/');
    expect(r.redact(`{"h":"${token.replace(/\//g, '\\/')}"}`)).toBe('{"h":"***"}');
  });

  it('redacts a short credential, but only where it stands as a word', () => {
    const r = new Redactor();
    r.add('abc', 'x', 'long-secret-value');
    expect(r.redact('password abc, token x; abcdef max long-secret-value')).toBe('password ***, token ***; abcdef max ***');
  });

  it('redacts strings and keys of nested values without touching other types', () => {
    const r = new Redactor();
    r.add('hunter2-secret');
    const out = r.redactDeep({ a: ['hunter2-secret', 3, null], 'hunter2-secret': { b: true, c: 'x hunter2-secret y' } });
    expect(out).toEqual({ a: ['***', 3, null], '***': { b: true, c: 'x *** y' } });
  });
});
