/**
 * The suite runs every sandbox the way the platform behaves by default: the Enterprise plan's limit table
 * with its endpoint buckets (the sandboxes' own default), and Zendesk's incremental exports leaving out the
 * minute before each request ("Using the Incremental Export API"). A test that needs a kinder sandbox opts
 * out by name and says why: the reason is the option's value, so it stays beside the code that needs it.
 */

/** Ways a test may make a sandbox kinder than the platform; each value is the reason, in a few words. */
export interface Leniency {
  /**
   * Serve without any rate limit. For a test whose volume would make it wait out real minutes while the
   * pacing it would exercise is proven elsewhere (name where). Default: the plan's limits.
   */
  unthrottled?: string;
  /**
   * Zendesk: lift only the incremental-export limit (10 a minute on Enterprise); the account and every
   * other endpoint bucket stay. For a test whose subject is not the export budget but whose runs read more
   * than 10 export pages a minute (a migration, its verification and a second run already do), so that it
   * does not wait out a minute per cycle. The engine paces the exports by its own table (Zendesk sends no
   * headers for them), so its connector must be told too: `migrationEnv` gives that side `plan: none`; a test
   * that makes its own connector or migration file does the same. Default: the plan's export limit.
   */
  unthrottledExports?: string;
  /**
   * Zendesk: exports include changes made a moment before, for a test that must read a change at once
   * (a delta right after an edit). Default: the last minute is left out, as on Zendesk.
   */
  immediateExports?: string;
  /**
   * Zendesk: exports leave out fewer seconds than the documented minute, for a test that must see a change
   * both inside the exclusion and, later in the same test, past it. Default: the minute.
   */
  shortExportLag?: { seconds: number; reason: string };
}

/**
 * A sandbox's options as the suite may give them: limits only through `Leniency` (an explicit account
 * limit `requestsPerMinute: n` is allowed, it tightens or moves the plan's), never `requestsPerMinute: null`
 * or `exportLagSeconds` directly.
 */
export type FaithfulOptions<O> = Omit<O, 'requestsPerMinute' | 'exportLagSeconds' | 'incrementalExportsPerMinute'> &
  Leniency & { requestsPerMinute?: number; exportLagSeconds?: never; incrementalExportsPerMinute?: number };

const MIN_REASON = 10;

function reasonOf(option: keyof Leniency, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim().length < MIN_REASON) {
    throw new Error(`sandbox option ${option} takes the reason this test needs it (a few words), got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The platform options a sandbox starts with: its faithful defaults unless the test opted out, with reason. */
export function sandboxOptions<O extends object>(options: FaithfulOptions<O>): O {
  const { unthrottled, unthrottledExports, immediateExports, shortExportLag, ...rest } = options as FaithfulOptions<O> & Record<string, unknown>;
  if ((rest as Record<string, unknown>).requestsPerMinute === null) {
    throw new Error("requestsPerMinute: null is not an option of the suite's sandboxes: use unthrottled: '<why this test needs it>'");
  }
  if ((rest as Record<string, unknown>).incrementalExportsPerMinute === null) {
    throw new Error("incrementalExportsPerMinute: null is not an option of the suite's sandboxes: use unthrottledExports: '<why this test needs it>'");
  }
  if ('exportLagSeconds' in rest) {
    throw new Error("exportLagSeconds is not an option of the suite's sandboxes: use immediateExports: '<why this test needs it>'");
  }
  const out: Record<string, unknown> = { ...rest };
  if (reasonOf('unthrottled', unthrottled) !== undefined) out.requestsPerMinute = null;
  if (reasonOf('unthrottledExports', unthrottledExports) !== undefined) out.incrementalExportsPerMinute = null;
  if (reasonOf('immediateExports', immediateExports) !== undefined) out.exportLagSeconds = 0;
  if (shortExportLag !== undefined && reasonOf('shortExportLag', shortExportLag.reason) !== undefined) {
    if (!(shortExportLag.seconds > 0 && shortExportLag.seconds < 60)) throw new Error(`shortExportLag.seconds is between 0 and 60 (exclusive), got ${shortExportLag.seconds}`);
    out.exportLagSeconds = shortExportLag.seconds;
  }
  return out as O;
}

/**
 * The reason a test gives for `unthrottledExports` when its subject is not the export budget: the engine
 * reads the user export for the preflight, the default agent, agents and contacts, then every stream again to
 * verify, so one migration with its verification already asks for more than the 10 export pages a minute
 * Enterprise allows, and each further run or delta waits out another minute. The export limit itself is
 * proven by tests/integration/sandboxes/limits.test.ts and the engine's pacing by
 * tests/integration/sdk/pacing.test.ts.
 */
export const RUNS_EXCEED_EXPORT_BUDGET = 'a migration with its verification reads more than the 10 export pages a minute Enterprise allows; not what this test is about';
