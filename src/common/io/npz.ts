/**
 * NumPy `.npz` archives: a ZIP of `name.npy` entries, stored (`np.savez`) or deflated
 * (`np.savez_compressed`), with NumPy's forced zip64 local headers. The ZIP layer (`zip.ts`) validates
 * the directory, rejects encrypted entries, unknown methods, duplicate names and overlapping entries, and
 * verifies every entry's CRC-32; each entry is then parsed as a `.npy` (see `npy.ts`). Tensor names drop
 * the `.npy` suffix, as `np.load(...)[name]` does; entries that are not `.npy` files are rejected.
 *
 * Exposed: parseNpz, serializeNpz, openNpz.
 * @module
 */
import { check, fail } from '../errors.js';
import type { Tensor } from '../tensor.js';
import {
  decodeNpyData,
  NPY_MAX_HEADER_LEN,
  type NpyHeader,
  parseNpy,
  readNpyHeader,
  serializeNpy,
  tensorToFloat32,
} from './npy.js';
import { type ByteSource, memorySource, type TensorFile, type TensorInfo } from './source.js';
import { readZipDirectory, readZipEntry, readZipEntryPrefix, writeZip, type ZipEntry } from './zip.js';

function tensorName(entryName: string): string {
  if (!entryName.endsWith('.npy')) fail('E_FORMAT', `npz: entry ${JSON.stringify(entryName)} is not a .npy file`);
  return entryName.slice(0, -4);
}

/**
 * Open a `.npz` archive lazily: the ZIP directory and every entry's `.npy` header are validated on open
 * (only each entry's first bytes are read or inflated), and `read(name)` inflates, CRC-checks and decodes one entry. For stored entries
 * `info(name).byteOffset/byteLength` locate the raw array data in the archive; for deflated entries they
 * locate the compressed stream.
 *
 * @example
 * ```ts
 * const f = openNpz(fileSource('weights.npz'));
 * for (const name of f.names) console.log(name, f.info(name).shape);
 * f.close();
 * ```
 */
export function openNpz(src: ByteSource): TensorFile {
  const entries = readZipDirectory(src);
  const byName = new Map<string, { entry: ZipEntry; header: NpyHeader; info: TensorInfo }>();
  for (const entry of entries) {
    const name = tensorName(entry.name);
    if (byName.has(name)) fail('E_FORMAT', `npz: duplicate tensor name ${JSON.stringify(name)}`);
    // The entry's first bytes (up to the largest possible .npy header) as a byte source of the
    // entry's full size: reading the header never touches, or inflates, the array data.
    const head = readZipEntryPrefix(src, entry, 12 + NPY_MAX_HEADER_LEN);
    const hs = memorySource(head);
    const header = readNpyHeader({ size: entry.uncompressedSize, read: (o, l, out) => hs.read(o, l, out) });
    const info: TensorInfo =
      entry.method === 0
        ? {
            name,
            fileDtype: header.descr,
            dtype: header.dtype,
            shape: header.shape,
            byteOffset: entry.dataOffset + header.dataOffset,
            byteLength: header.dataLength,
          }
        : {
            name,
            fileDtype: header.descr,
            dtype: header.dtype,
            shape: header.shape,
            byteOffset: entry.dataOffset,
            byteLength: entry.compressedSize,
          };
    byName.set(name, { entry, header, info: Object.freeze(info) });
  }
  const get = (name: string) => {
    const e = byName.get(name);
    if (e === undefined)
      fail('E_CONFIG', `npz: no array named ${JSON.stringify(name)}; have ${[...byName.keys()].join(', ')}`);
    return e;
  };
  const read = (name: string): Tensor => {
    const { entry, header } = get(name);
    const bytes = readZipEntry(src, entry);
    return decodeNpyData(bytes.subarray(header.dataOffset, header.dataOffset + header.dataLength), header);
  };
  return {
    format: 'npz',
    names: Object.freeze([...byName.keys()]),
    metadata: Object.freeze({}),
    info: (name) => get(name).info,
    read,
    readFloat32: (name) => tensorToFloat32(read(name), true),
    close: () => src.close?.(),
  };
}

/**
 * Parse an in-memory `.npz` archive into a map from array name (without `.npy`) to tensor.
 *
 * @example
 * ```ts
 * const arrays = parseNpz(readFileSync('weights.npz'));
 * arrays.get('w')!.shape; // [64, 64]
 * ```
 */
export function parseNpz(bytes: Uint8Array): Map<string, Tensor> {
  check(bytes instanceof Uint8Array, 'E_FORMAT', 'parseNpz: expected a Uint8Array');
  const src = memorySource(bytes);
  const out = new Map<string, Tensor>();
  for (const entry of readZipDirectory(src)) {
    const name = tensorName(entry.name);
    if (out.has(name)) fail('E_FORMAT', `npz: duplicate tensor name ${JSON.stringify(name)}`);
    out.set(name, parseNpy(readZipEntry(src, entry)));
  }
  return out;
}

/**
 * Serialize tensors as a `.npz` archive (`name.npy` entries in insertion order; stored like `np.savez`, or
 * deflated like `np.savez_compressed` with `{ compress: true }`). NumPy reads the result with `np.load`.
 *
 * @example
 * ```ts
 * writeFileSync('w.npz', serializeNpz({ w: float32([1, 2, 3, 4], [2, 2]) }, { compress: true }));
 * ```
 */
export function serializeNpz(
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  options: { compress?: boolean } = {},
): Uint8Array {
  const list: [string, Tensor][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, Tensor>);
  return writeZip(
    list.map(([name, t]) => ({ name: `${name}.npy`, data: serializeNpy(t) })),
    options.compress === undefined ? {} : { compress: options.compress },
  );
}
