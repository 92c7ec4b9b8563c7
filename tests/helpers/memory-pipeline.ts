import { InProcessBus } from '../../services/bus/in-process-bus.ts';
import { MemoryLedger } from '../../services/ledger/memory-ledger.ts';
import type { PipelineDeps } from '../../services/pipeline/pipeline.ts';
import { MemoryTarget, plainRules, type MemorySource } from './memory-platform.ts';
import { WatchedCheckpoints } from './watched-checkpoints.ts';

/**
 * The pipeline over a memory source, an empty memory target and a memory ledger, with checkpoints
 * that check every save against both. `deps()` gives a fresh bus each run, as a new process would.
 */
export function memoryPipeline(source: MemorySource) {
  const target = new MemoryTarget();
  const ledger = new MemoryLedger({ migration: 'm' });
  const checkpoints = new WatchedCheckpoints({ source, target, ledger });
  const deps = (): PipelineDeps => ({
    migration: 'm',
    source,
    target,
    ledger,
    bus: new InProcessBus(),
    checkpoints,
    rules: plainRules(target),
    entities: ['ticket'],
    loaderConcurrency: 4,
    overlapSeconds: 0,
    defaultAgentEmail: null,
  });
  return { target, ledger, checkpoints, deps };
}
