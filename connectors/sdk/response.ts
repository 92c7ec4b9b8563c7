import { HdmError } from '../../schemas/errors.ts';

/** Where an answer came from, for errors a person can act on. */
export interface Endpoint {
  platform: string;
  path: string;
}

function shapeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `text (${value.length} characters)`;
  if (typeof value === 'object') return `an object with ${Object.keys(value).slice(0, 5).join(', ') || 'no fields'}`;
  return typeof value;
}

/**
 * The list a page carries: `body[key]`, or the body itself when `key` is null. A page without it is a
 * BAD_RESPONSE naming the platform and endpoint; read as an empty page it would end a stream early.
 */
export function listOf<T>(body: unknown, key: string | null, where: Endpoint): T[] {
  const list = key === null ? body : body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)[key] : undefined;
  if (Array.isArray(list)) return list as T[];
  const what = key === null ? 'a list' : `its "${key}" list`;
  throw new HdmError('BAD_RESPONSE', `${where.platform} ${where.path} answered without ${what} (got ${shapeOf(key === null ? body : (list ?? body))})`, {
    retryable: true,
    context: { platform: where.platform, path: where.path, field: key ?? undefined },
  });
}

/**
 * Stops a paginated read that no longer moves: an export answering the same cursor forever (with
 * `end_of_stream: false`) would otherwise be asked for the same page without end. `limit` consecutive
 * pages that did not advance are tolerated, since some reads legitimately stand still for a page
 * (a time-based export whose whole page shares one second steps past it on the next request).
 */
export class StallGuard {
  private stalls = 0;

  constructor(
    private readonly where: Endpoint,
    private readonly limit = 3,
  ) {}

  /** Called once per page that is not the last; `advanced`: the page moved the read forward. */
  page(advanced: boolean, position: string): void {
    if (advanced) {
      this.stalls = 0;
      return;
    }
    this.stalls += 1;
    if (this.stalls > this.limit) {
      throw new HdmError('BAD_RESPONSE', `${this.where.platform} ${this.where.path} did not advance past ${position} in ${this.stalls + 1} pages in a row while saying more follows; stopped rather than ask for the same page forever`, {
        retryable: false,
        context: { platform: this.where.platform, path: this.where.path, cursor: position },
      });
    }
  }
}
