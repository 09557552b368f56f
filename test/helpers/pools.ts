/** Test helper: worker pools shared by the tests of a file (created before them, closed after). */
import { afterAll, beforeAll } from 'vitest';
import { KernelPool } from '../../src/node/index.js';

/**
 * A 2-thread and a 4-thread pool that split every call (no size thresholds), for the tests of the
 * calling file: `pools.two` / `pools.four` once its `beforeAll` ran.
 */
export function splittingPools(): { two: KernelPool; four: KernelPool } {
  const pools = {} as { two: KernelPool; four: KernelPool };
  beforeAll(async () => {
    pools.two = await KernelPool.create({ threads: 2, minElements: 0, minElementsPlain: 0 });
    pools.four = await KernelPool.create({ threads: 4, minElements: 0, minElementsPlain: 0 });
  });
  afterAll(async () => {
    await pools.two.close();
    await pools.four.close();
  });
  return pools;
}
