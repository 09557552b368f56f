/**
 * Minimal typings for the parts of `ndarray-ops` (no `@types` package exists) that lowbit uses.
 * Internal to `src/common/interop.ts`.
 */
declare module 'ndarray-ops' {
  interface NdarrayOpsView {
    data: unknown;
    shape: number[];
    stride: number[];
    offset: number;
  }
  /** `dst[...] = src[...]` element-wise over two views of equal shape. */
  export function assign(dst: NdarrayOpsView, src: NdarrayOpsView): void;
  const ops: { assign: typeof assign };
  export default ops;
}
