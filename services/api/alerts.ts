import { redactor } from '../../schemas/redact.ts';

const VERDICTS: Record<string, string> = { ready: 'ready to cut over', 'not-ready': 'not ready', 'verify-again': 'verify again' };

/**
 * Watches a migration's verdict and stall state and, when either changes, posts a Slack-compatible
 * message (`{"text": "..."}`) to the migration file's `alerts.webhookUrl`. The first verdict seen after
 * the API starts is where it starts from, not a change. Posts go one at a time, in order; a webhook
 * that fails is not retried (the next change posts again).
 */
export class AlertWatcher {
  private verdict: string | null = null;
  private stalled = false;
  private queue: Promise<void> = Promise.resolve();
  /** Messages posted (or attempted), newest last: what the API shows as the alert history. */
  readonly sent: { at: string; text: string; ok: boolean }[] = [];

  constructor(
    private readonly migration: string,
    private readonly options: { webhookUrl?: string } = {},
  ) {
    // A webhook URL is a credential (anyone holding it can post): never printed.
    if (options.webhookUrl) redactor.add(new URL(options.webhookUrl).pathname.slice(1), options.webhookUrl);
  }

  observe(state: { verdict?: string; stall?: string | null }): void {
    if (state.verdict !== undefined && state.verdict !== this.verdict) {
      const before = this.verdict;
      this.verdict = state.verdict;
      if (before !== null) this.post(`Migration "${this.migration}": ${VERDICTS[state.verdict] ?? state.verdict} (was ${VERDICTS[before] ?? before})`);
    }
    if (state.stall !== undefined && (state.stall !== null) !== this.stalled) {
      this.stalled = state.stall !== null;
      this.post(this.stalled ? `Migration "${this.migration}" stalled: ${state.stall}` : `Migration "${this.migration}": records are moving again (or the run ended)`);
    }
  }

  /** Resolves once every message so far was posted or failed. */
  idle(): Promise<void> {
    return this.queue;
  }

  private post(text: string): void {
    const url = this.options.webhookUrl;
    const entry = { at: new Date().toISOString(), text, ok: false };
    this.sent.push(entry);
    if (this.sent.length > 50) this.sent.shift();
    if (!url) return;
    this.queue = this.queue.then(async () => {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text }),
          signal: AbortSignal.timeout(10_000),
        });
        entry.ok = res.ok;
        await res.body?.cancel();
      } catch {
        entry.ok = false;
      }
    });
  }
}
