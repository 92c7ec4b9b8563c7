import { describe, expect, it } from 'vitest';
import type { ZendeskSandboxOptions } from '../../../connectors/zendesk/index.ts';
import { sandboxOptions } from '../../helpers/sandbox-options.ts';

// The suite's rule (docs/sandboxes.md, "The suite runs the documented defaults"): sandboxes keep the
// platforms' documented limits and export exclusion unless a test opts out by name, with its reason.
describe('sandboxOptions', () => {
  it('leaves the documented defaults alone when nothing is opted out of', () => {
    expect(sandboxOptions<ZendeskSandboxOptions>({ tickets: 3, seed: 2, requestsPerMinute: 100 })).toEqual({ tickets: 3, seed: 2, requestsPerMinute: 100 });
  });

  it('turns each opt-out with a reason into the sandbox option it stands for', () => {
    expect(sandboxOptions<ZendeskSandboxOptions>({ tickets: 1, unthrottled: 'a flood of 1,100 tickets' })).toEqual({ tickets: 1, requestsPerMinute: null });
    expect(sandboxOptions<ZendeskSandboxOptions>({ unthrottledExports: 'runs read more than 10 pages' })).toEqual({ incrementalExportsPerMinute: null });
    expect(sandboxOptions<ZendeskSandboxOptions>({ immediateExports: 'reads an edit made a moment ago' })).toEqual({ exportLagSeconds: 0 });
    expect(sandboxOptions<ZendeskSandboxOptions>({ shortExportLag: { seconds: 15, reason: 'sees the exclusion end within the test' } })).toEqual({ exportLagSeconds: 15 });
  });

  it('refuses a shortened export lag that is no exclusion at all or none shorter', () => {
    expect(() => sandboxOptions<ZendeskSandboxOptions>({ shortExportLag: { seconds: 0, reason: 'sees the exclusion end within the test' } })).toThrow(/between 0 and 60/);
    expect(() => sandboxOptions<ZendeskSandboxOptions>({ shortExportLag: { seconds: 60, reason: 'sees the exclusion end within the test' } })).toThrow(/between 0 and 60/);
    expect(() => sandboxOptions<ZendeskSandboxOptions>({ shortExportLag: { seconds: 15, reason: '' } })).toThrow(/reason/);
  });

  it('refuses an opt-out without a reason of a few words', () => {
    expect(() => sandboxOptions<ZendeskSandboxOptions>({ unthrottled: '' })).toThrow(/reason/);
    expect(() => sandboxOptions<ZendeskSandboxOptions>({ immediateExports: 'fast' })).toThrow(/reason/);
  });

  it('refuses the sandbox options that bypass the rule', () => {
    expect(() => sandboxOptions<ZendeskSandboxOptions>({ requestsPerMinute: null } as never)).toThrow(/unthrottled/);
    expect(() => sandboxOptions<ZendeskSandboxOptions>({ incrementalExportsPerMinute: null } as never)).toThrow(/unthrottledExports/);
    expect(() => sandboxOptions<ZendeskSandboxOptions>({ exportLagSeconds: 0 } as never)).toThrow(/immediateExports/);
  });
});
