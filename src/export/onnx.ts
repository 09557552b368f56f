/**
 * A minimal ONNX protobuf writer: just enough of `onnx.proto` (ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto with tensor types) to build small inference graphs
 * whose weights are initializers, e.g. the one-node `com.microsoft.MatMulNBits` model of
 * {@link matMulNBitsModel}.
 *
 * Protobuf wire format: every field is a varint key `(field << 3) | wireType`; wire type 0 is a
 * varint (int32/int64/enum; negative values as 10-byte two's complement), 2 is length-delimited
 * (bytes, strings, embedded messages, packed repeated scalars). Field numbers are those of
 * `onnx/onnx.proto` (IR version 8).
 *
 * Exposed (inside lowbit/export): OnnxTensor, OnnxNode, OnnxValueInfo, OnnxGraph, OnnxModel,
 * ONNX_DTYPE, encodeOnnxModel.
 * @module
 */
import { check, fail } from '../common/errors.js';

/**
 * `TensorProto.DataType` values used here.
 *
 * @example
 * ```ts
 * ONNX_DTYPE.uint8; // 2
 * ```
 */
export const ONNX_DTYPE = Object.freeze({ float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, float16: 10 });

/**
 * An initializer: name, dims, data type and little-endian raw bytes.
 *
 * @example
 * ```ts
 * const t: OnnxTensor = { name: 'B', dims: [8, 2, 16], dataType: ONNX_DTYPE.uint8, raw: new Uint8Array(256) };
 * ```
 */
export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: number;
  readonly raw: Uint8Array;
}

/**
 * A graph node; attributes are ints, floats, strings or int lists.
 *
 * @example
 * ```ts
 * const n: OnnxNode = { opType: 'Relu', inputs: ['x'], outputs: ['y'] };
 * ```
 */
export interface OnnxNode {
  readonly opType: string;
  readonly domain?: string;
  readonly name?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, number | string | readonly number[]>>;
  /** Attribute names whose number value is a FLOAT (default: numbers are INT). */
  readonly floatAttributes?: readonly string[];
}

/**
 * A graph input/output: element type and dims (a string dim is symbolic).
 *
 * @example
 * ```ts
 * const v: OnnxValueInfo = { name: 'A', elemType: ONNX_DTYPE.float, dims: ['M', 64] };
 * ```
 */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: number;
  readonly dims: readonly (number | string)[];
}

/**
 * A graph: nodes in topological order, initializers, inputs and outputs.
 *
 * @example
 * ```ts
 * const g: OnnxGraph = { name: 'g', nodes: [], initializers: [], inputs: [], outputs: [] };
 * ```
 */
export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

/**
 * A model: the graph plus the operator sets it uses (`''` = the default ONNX domain).
 *
 * @example
 * ```ts
 * const m: OnnxModel = { graph: g, opsets: [{ domain: '', version: 21 }] };
 * ```
 */
export interface OnnxModel {
  readonly graph: OnnxGraph;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly irVersion?: number;
  readonly producer?: string;
}

const utf8 = new TextEncoder();

/** Growable byte buffer with protobuf primitives. */
class Pb {
  private buf = new Uint8Array(256);
  private n = 0;
  private grow(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    this.grow(10);
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) byte |= 0x80;
      this.buf[this.n++] = byte;
    } while (x !== 0n);
  }
  key(field: number, wire: 0 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }
  int(field: number, v: number): void {
    check(Number.isSafeInteger(v), 'E_CONFIG', () => `onnx: field ${field}: ${v} is not a safe integer`);
    this.key(field, 0);
    this.varint(v);
  }
  float(field: number, v: number): void {
    this.key(field, 5);
    this.grow(4);
    new DataView(this.buf.buffer).setFloat32(this.n, v, true);
    this.n += 4;
  }
  bytes(field: number, b: Uint8Array): void {
    this.key(field, 2);
    this.varint(b.length);
    this.grow(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  str(field: number, s: string): void {
    this.bytes(field, utf8.encode(s));
  }
  msg(field: number, write: (p: Pb) => void): void {
    const p = new Pb();
    write(p);
    this.bytes(field, p.done());
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

function writeTensor(p: Pb, t: OnnxTensor): void {
  for (const d of t.dims) p.int(1, d); // dims (repeated int64, unpacked is accepted)
  p.int(2, t.dataType);
  p.str(8, t.name);
  p.bytes(9, t.raw); // raw_data
}

function writeValueInfo(p: Pb, v: OnnxValueInfo): void {
  p.str(1, v.name);
  p.msg(2, (type) =>
    type.msg(1, (tt) => {
      tt.int(1, v.elemType);
      tt.msg(2, (shape) => {
        for (const d of v.dims)
          shape.msg(1, (dim) => {
            if (typeof d === 'string') dim.str(2, d);
            else dim.int(1, d);
          });
      });
    }),
  );
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

function writeNode(p: Pb, node: OnnxNode): void {
  for (const i of node.inputs) p.str(1, i);
  for (const o of node.outputs) p.str(2, o);
  if (node.name !== undefined) p.str(3, node.name);
  p.str(4, node.opType);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    p.msg(5, (a) => {
      a.str(1, name);
      if (typeof value === 'string') {
        a.bytes(4, utf8.encode(value));
        a.int(20, ATTR_STRING);
      } else if (typeof value === 'number') {
        if (node.floatAttributes?.includes(name) === true) {
          a.float(2, value);
          a.int(20, ATTR_FLOAT);
        } else {
          a.int(3, value);
          a.int(20, ATTR_INT);
        }
      } else if (Array.isArray(value)) {
        for (const v of value as readonly number[]) a.int(8, v);
        a.int(20, ATTR_INTS);
      } else fail('E_CONFIG', `onnx: attribute ${name} of ${node.opType} has an unsupported value`);
    });
  }
  if (node.domain !== undefined) p.str(7, node.domain);
}

/**
 * Serialize a model to ONNX protobuf bytes (loadable by ONNX Runtime's `InferenceSession.create`).
 *
 * @example
 * ```ts
 * const bytes = encodeOnnxModel({
 *   opsets: [{ domain: '', version: 17 }],
 *   graph: {
 *     name: 'g', nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }], initializers: [],
 *     inputs: [{ name: 'x', elemType: ONNX_DTYPE.float, dims: [4] }],
 *     outputs: [{ name: 'y', elemType: ONNX_DTYPE.float, dims: [4] }],
 *   },
 * });
 * ```
 */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const p = new Pb();
  p.int(1, model.irVersion ?? 8); // ir_version
  p.str(2, model.producer ?? 'lowbit'); // producer_name
  p.msg(7, (g) => {
    const graph = model.graph;
    for (const n of graph.nodes) g.msg(1, (m) => writeNode(m, n));
    g.str(2, graph.name);
    for (const t of graph.initializers) g.msg(5, (m) => writeTensor(m, t));
    for (const v of graph.inputs) g.msg(11, (m) => writeValueInfo(m, v));
    for (const v of graph.outputs) g.msg(12, (m) => writeValueInfo(m, v));
  });
  for (const o of model.opsets)
    p.msg(8, (m) => {
      m.str(1, o.domain);
      m.int(2, o.version);
    });
  return p.done();
}
