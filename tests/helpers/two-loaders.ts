import { afterAll, beforeAll } from 'vitest';
import type { WriteContext } from '../../connectors/sdk/contract.ts';

/**
 * Two connectors on one target sandbox, as two loader processes of a cluster see it: the sandbox is
 * started before the describe block's tests and everything is closed after them.
 */
export function twoLoadersOn<S extends { close(): Promise<unknown> }, C extends { close(): Promise<unknown> }>(start: () => Promise<S>, connect: (target: S) => C) {
  const race = {} as { target: S; a: C; b: C };
  beforeAll(async () => {
    race.target = await start();
    race.a = connect(race.target);
    race.b = connect(race.target);
  });
  afterAll(async () => {
    await race.a?.close();
    await race.b?.close();
    await race.target?.close();
  });
  return race;
}

/** A write context with this stamp, no known children and empty attachments. */
export const writeContext = (stamp: string): WriteContext => ({ stamp, knownChildren: {}, openAttachment: async () => ({ body: Buffer.alloc(0), contentType: 'text/plain' }) });
