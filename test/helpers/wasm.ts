/** Test helper: a fresh instance of the kernels' wasm module (its own memory) and its wrapper. */
import { WasmKernels } from '../../src/common/kernels.js';
import { KERNELS_WASM_BASE64 } from '../../src/common/kernels-wasm.generated.js';

type Exports = ConstructorParameters<typeof WasmKernels>[0];

/**
 * A new instance of the kernels module with its memory grown by `pages` (64 KB each) and a wrapper whose
 * scratch is the byte range `slot` of that memory (as the Node pool's threads have): [exports, wrapper, slot].
 */
export function freshKernels(pages: number, slot: [number, number]): [Exports, WasmKernels, [number, number]] {
  type Ctors = { Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: object } };
  const W = (globalThis as unknown as { WebAssembly: Ctors }).WebAssembly;
  const inst = new W.Instance(new W.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64')), {});
  const ex = inst.exports as unknown as Exports;
  ex.memory.grow(pages);
  return [ex, new WasmKernels(ex, slot), slot];
}
