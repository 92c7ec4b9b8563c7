/**
 * Remembers secret values and scrubs them, in every encoding the engine itself produces, from any
 * text before it is printed, logged, stored in the ledger or answered by the API.
 *
 * A secret of fewer than {@link SHORT_SECRET} characters is still redacted, but only where it stands
 * as a whole word: replacing every `x` of the output would destroy it, while `password: x` is exactly
 * the leak to stop.
 */
export const SHORT_SECRET = 4;

const CENSOR = '***';
const WORD = 'A-Za-z0-9';
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const jsonEscaped = (s: string) => JSON.stringify(s).slice(1, -1);
const unpadded = (b64: string) => b64.replace(/=+$/, '');
const lowerHex = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());

/** Header names whose values are credentials. */
export const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|x-auth-token|api[-_]?key|private-token)$/i;

export class Redactor {
  private readonly forms = new Map<string, boolean>();
  private pattern: RegExp | null = null;

  /** Registers credentials given to the engine (config values, environment): each in all its encodings. */
  add(...values: (string | undefined | null)[]): void {
    for (const value of values) {
      if (!value) continue;
      this.remember(value);
      // Basic-auth headers carry secrets base64-encoded; unpadded so that `=`, `%3D` or nothing may follow.
      this.remember(unpadded(Buffer.from(value).toString('base64')));
      this.remember(unpadded(Buffer.from(value).toString('base64url')));
    }
  }

  /**
   * Registers the value of a header the engine sends (`Authorization: Basic …`, `token …`): the whole
   * value, its credential part and, for Basic, the decoded `user:password` pair. A pair's base64 is not
   * the concatenation of its parts' base64, so the parts alone would not find it.
   */
  addHeader(value: string | undefined | null): void {
    if (!value) return;
    this.add(value);
    const m = /^([A-Za-z][\w-]*)\s+(\S+)$/.exec(value.trim());
    if (!m) return;
    this.add(m[2]);
    if (m[1].toLowerCase() === 'basic') {
      this.remember(unpadded(m[2]));
      const pair = Buffer.from(m[2], 'base64').toString('utf8');
      if (pair.includes(':')) this.add(pair);
    }
  }

  /** Whether any secret is known. */
  get size(): number {
    return this.forms.size;
  }

  redact(text: string): string {
    if (this.forms.size === 0 || typeof text !== 'string' || text.length === 0) return text;
    return text.replace(this.regex(), CENSOR);
  }

  /** A copy of a JSON-like value with every string (and key) redacted. */
  redactDeep<T>(value: T): T {
    if (this.forms.size === 0) return value;
    return this.walk(value, 0) as T;
  }

  private walk(value: unknown, depth: number): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (value === null || typeof value !== 'object' || depth > 32) return value;
    if (Array.isArray(value)) return value.map((v) => this.walk(v, depth + 1));
    const proto = Object.getPrototypeOf(value);
    // Class instances (a URL, a Buffer, an error) keep their identity; only plain data is copied.
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[this.redact(k)] = this.walk(v, depth + 1);
    return out;
  }

  private remember(value: string): void {
    if (!value) return;
    const short = value.length < SHORT_SECRET;
    const encoded = encodeURIComponent(value);
    // Some platforms escape `/` in JSON (PHP's json_encode does), and base64 is full of them.
    const variants = [value, jsonEscaped(value), jsonEscaped(jsonEscaped(value)), jsonEscaped(value).replace(/\//g, '\\/'), encoded, lowerHex(encoded), encoded.replace(/%20/g, '+'), encodeURIComponent(encoded)];
    for (const form of variants) {
      if (!form || this.forms.has(form)) continue;
      this.forms.set(form, short);
      this.pattern = null;
    }
  }

  private regex(): RegExp {
    if (this.pattern) return this.pattern;
    // Longest first: a form that contains another must win at the same position.
    const alternatives = [...this.forms.entries()]
      .sort((a, b) => b[0].length - a[0].length)
      .map(([form, short]) => (short ? `(?<![${WORD}])${escapeRegExp(form)}(?![${WORD}])` : escapeRegExp(form)));
    this.pattern = new RegExp(alternatives.join('|'), 'g');
    return this.pattern;
  }
}

/** The process's redactor: credentials are registered once, when a runtime or a client is made. */
export const redactor = new Redactor();
