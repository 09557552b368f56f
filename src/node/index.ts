/**
 * `lowbit/node`: Node-only helpers (worker threads). Everything else in lowbit runs in browsers too.
 * @module
 */
export {
  DEFAULT_POOL_MIN_ELEMENTS,
  DEFAULT_POOL_MIN_ELEMENTS_PLAIN,
  KernelPool,
  type KernelPoolOptions,
} from './pool.js';
