import { describe, expect, it } from 'vitest';
import { CURSOR_VERSION, InstantMark, overlapOf, readCursor, resumeAt, sinceWithOverlap, writeCursor } from '../../../../connectors/sdk/cursor.ts';

const state = (cursor: string | null) => ({ cursor, coveredUntil: null });

describe('readCursor / writeCursor', () => {
  it('round-trips a cursor and writes its version', () => {
    const text = writeCursor({ t: '2026-01-01T00:00:00Z', ids: [3, 4] });
    expect(JSON.parse(text)).toEqual({ v: CURSOR_VERSION, t: '2026-01-01T00:00:00Z', ids: [3, 4] });
    expect(readCursor(state(text), 'freshdesk')).toEqual({ t: '2026-01-01T00:00:00Z', ids: [3, 4] });
  });

  it('reads a cursor saved before cursors carried a version', () => {
    expect(readCursor(state('{"after":"abc"}'), 'zendesk')).toEqual({ after: 'abc' });
    expect(readCursor(state('{"since":"2026-01-01T00:00:00Z","page":3,"max":"2026-01-02T00:00:00Z"}'), 'freshdesk')).toMatchObject({ page: 3 });
  });

  it('answers null for a stream with no cursor', () => {
    expect(readCursor(null, 'zendesk')).toBeNull();
    expect(readCursor(state(null), 'zendesk')).toBeNull();
  });

  it('hands a cursor that is not a JSON object to the connector’s older format, or refuses it naming the platform', () => {
    expect(readCursor(state('2026-01-01T00:00:00.000Z'), 'rt', (text) => ({ at: text }))).toEqual({ at: '2026-01-01T00:00:00.000Z' });
    expect(() => readCursor(state('not json'), 'freshdesk')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', context: expect.objectContaining({ platform: 'freshdesk' }) }));
    expect(() => readCursor(state('[1]'), 'zendesk')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('refuses a cursor written by a newer version instead of misreading it', () => {
    expect(() => readCursor(state(JSON.stringify({ v: CURSOR_VERSION + 1, at: 'x' })), 'zendesk')).toThrow(/newer/);
  });
});

describe('overlap window', () => {
  it('defaults to 60 seconds and keeps an explicit 0', () => {
    expect(overlapOf(undefined)).toBe(60);
    expect(overlapOf({ overlapSeconds: 0 })).toBe(0);
  });

  it('starts a resumed read the overlap before the saved instant, never before the epoch', () => {
    expect(sinceWithOverlap('2026-01-01T00:01:00Z', 60)).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(sinceWithOverlap(30_000, 60)).toBe(0);
    expect(sinceWithOverlap('2026-01-01T00:01:00Z', 0)).toBe(Date.parse('2026-01-01T00:01:00Z'));
  });
});

describe('InstantMark: records at the cursor’s instant already seen are skipped by id', () => {
  it('skips only the IDs read at the mark’s instant, not other records of that instant', () => {
    const mark = new InstantMark<string, number>('t1', [1, 2]);
    expect(mark.seen('t1', 1)).toBe(true);
    expect(mark.seen('t1', 3)).toBe(false);
    expect(mark.seen('t2', 1)).toBe(false);
  });

  it('keeps adding at the same instant and starts over at a newer one', () => {
    const mark = new InstantMark<string, number>('t1', [1]);
    mark.add('t1', 2);
    expect(mark.idsAt()).toEqual([1, 2]);
    mark.add('t2', 5);
    expect(mark.at).toBe('t2');
    expect(mark.idsAt()).toEqual([5]);
    expect(mark.seen('t1', 1)).toBe(false);
  });
});

describe('resumeAt', () => {
  const saved = { at: '2026-01-01T00:01:00Z', ids: [7, 8] };

  it('starts from the beginning without a cursor', () => {
    const { since, mark } = resumeAt(null, 60);
    expect(since).toBeNull();
    expect(mark.at).toBeNull();
  });

  it('with an overlap, starts that much earlier and skips nothing', () => {
    const { since, mark } = resumeAt(saved, 60);
    expect(since).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(mark.seen(saved.at, 7)).toBe(false);
  });

  it('without an overlap, starts at the instant and skips by ID what was handed out there', () => {
    const { since, mark } = resumeAt(saved, 0);
    expect(since).toBe(Date.parse(saved.at));
    expect(mark.seen(saved.at, 7)).toBe(true);
    expect(mark.seen(saved.at, 9)).toBe(false);
  });
});
