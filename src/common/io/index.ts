/**
 * `lowbit/io`: tensor file formats (Node). Lazy, hardened readers and writers for `.npy`, `.npz`,
 * `.safetensors` and `.gguf`, the byte sources they read through, and `openTensorFile`, which detects
 * the format and reads one tensor at a time (files larger than 2 GiB work; nothing is read whole).
 *
 * @example
 * ```ts
 * import { openTensorFile } from 'lowbit/io';
 * const f = openTensorFile('model.gguf');
 * const w = f.readFloat32(f.names[0]!);
 * f.close();
 * ```
 * @module
 */
export * from './file-source.js';
export * from './float8.js';
export * from './gguf.js';
export * from './npy.js';
export * from './npz.js';
export * from './open.js';
export * from './safetensors.js';
export * from './source.js';
