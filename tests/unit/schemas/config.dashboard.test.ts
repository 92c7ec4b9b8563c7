import { describe, expect, it } from 'vitest';
import { parseMigrationConfig } from '../../../schemas/config.ts';

const base = { name: 'm', source: { platform: 'zendesk', url: 'https://a.zendesk.com' }, target: { platform: 'freshdesk', url: 'https://a.freshdesk.com' } };

describe('dashboard options', () => {
  it('default to no team zones, a 300 s lag threshold a one-hour delta age and 20 tickets drawn for the ETA', () => {
    expect(parseMigrationConfig(base).dashboard).toEqual({ timeZones: [], maxLagSeconds: 300, maxDeltaAgeSeconds: 3600, stallSeconds: 15, etaSampleTickets: 20 });
  });

  it('take IANA time zones and refuse others, naming the path and the value', () => {
    expect(parseMigrationConfig({ ...base, dashboard: { timeZones: ['Europe/Berlin', 'Asia/Kolkata'] } }).dashboard.timeZones).toEqual(['Europe/Berlin', 'Asia/Kolkata']);
    expect(() => parseMigrationConfig({ ...base, dashboard: { timeZones: ['Europe/Berlin', 'Mars/Olympus'] } })).toThrow(/dashboard\.timeZones\.1: an IANA time zone .*"Mars\/Olympus"/);
    expect(() => parseMigrationConfig({ ...base, dashboard: { maxLagSeconds: 0 } })).toThrow(/dashboard\.maxLagSeconds/);
  });
});
