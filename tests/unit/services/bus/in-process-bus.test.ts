import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../../../services/bus/in-process-bus.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('InProcessBus', () => {
  it('delivers messages of one key in publish order while keys run concurrently', async () => {
    const bus = new InProcessBus({ partitions: 4, partitionCapacity: 4 });
    const seen = new Map<string, number[]>();
    let inFlight = 0;
    let maxInFlight = 0;
    const sub = await bus.subscribe<{ n: number }>(
      't',
      async (m) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await tick();
        seen.set(m.key, [...(seen.get(m.key) ?? []), m.value.n]);
        inFlight -= 1;
      },
      { group: 'g', concurrency: 4 },
    );
    const receipts = [];
    for (let n = 0; n < 40; n++) receipts.push(await bus.publish('t', [{ key: `k${n % 5}`, value: { n } }]));
    await Promise.all(receipts.map((r) => r.settled));
    for (const [key, values] of seen) {
      expect(values, key).toEqual([...values].sort((a, b) => a - b));
    }
    expect([...seen.values()].flat()).toHaveLength(40);
    expect(maxInFlight).toBeGreaterThan(1);
    await sub.close();
  });

  it('settles a message only after everything published because of it is handled', async () => {
    const bus = new InProcessBus();
    const order: string[] = [];
    await bus.subscribe<string>('a', async (m) => {
      await bus.publish('b', [{ key: m.key, value: `${m.value}-child` }], { parent: m });
      order.push(`a:${m.value}`);
    }, { group: 'g' });
    await bus.subscribe<string>('b', async (m) => {
      await new Promise((r) => setTimeout(r, 20));
      order.push(`b:${m.value}`);
    }, { group: 'g' });
    const receipt = await bus.publish('a', [{ key: 'x', value: 'x' }]);
    await receipt.settled;
    expect(order).toEqual(['a:x', 'b:x-child']);
    await bus.close();
  });

  it('rejects the settled promise of the root when a downstream handler fails', async () => {
    const bus = new InProcessBus();
    await bus.subscribe<string>('a', async (m) => {
      await bus.publish('b', [{ key: m.key, value: m.value }], { parent: m });
    }, { group: 'g' });
    await bus.subscribe<string>('b', async () => {
      throw new Error('ledger down');
    }, { group: 'g' });
    const receipt = await bus.publish('a', [{ key: 'x', value: 'x' }]);
    await expect(receipt.settled).rejects.toThrow('ledger down');
    await bus.close();
  });

  it('makes publishers wait when a partition is full (backpressure)', async () => {
    const bus = new InProcessBus({ partitions: 1, partitionCapacity: 2 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    await bus.subscribe('t', async () => {
      await gate;
      handled += 1;
    }, { group: 'g', concurrency: 1 });
    let published = 0;
    const publishing = (async () => {
      for (let i = 0; i < 6; i++) {
        await bus.publish('t', [{ key: 'k', value: i }]);
        published += 1;
      }
    })();
    await new Promise((r) => setTimeout(r, 30));
    // One message in the handler, two queued: the fourth publish must be waiting.
    expect(published).toBe(3);
    release();
    await publishing;
    await bus.close();
    expect(handled).toBe(6);
  });
});
