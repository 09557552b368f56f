/**
 * Test setup. `FC_SEED=<n>` fixes fast-check's seed for every property (CI sets it, so a CI run is
 * reproducible locally with the same value); without it each run explores new random cases.
 */
import fc from 'fast-check';

const seed = process.env.FC_SEED;
if (seed !== undefined && seed !== '') {
  const n = Number(seed);
  if (!Number.isInteger(n)) throw new Error(`FC_SEED must be an integer, got ${seed}`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: n });
}
