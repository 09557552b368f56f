import { describe, expect, it } from 'vitest';
import { encodeOnnxModel, ONNX_DTYPE } from '../../src/export/onnx.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');

describe('encodeOnnxModel (protobuf wire format, hand-derived bytes)', () => {
  it('writes ir_version, producer, an empty graph and the opset imports', () => {
    const b = encodeOnnxModel({
      opsets: [{ domain: '', version: 21 }],
      graph: { name: 'g', nodes: [], initializers: [], inputs: [], outputs: [] },
    });
    // 08 08: field 1 varint 8 | 12 06 "lowbit": field 2 bytes | 3a 03 (12 01 "g"): field 7 graph, name
    // 42 04 (0a 00 10 15): field 8 opset { domain "", version 21 }
    expect(hex(b)).toBe(`0808${'1206'}${ascii('lowbit')}3a03${'1201'}${ascii('g')}42040a001015`);
  });

  it('encodes attributes, symbolic dims, multi-byte varints and negative ints (10-byte two’s complement)', () => {
    const b = encodeOnnxModel({
      irVersion: 300,
      producer: '',
      opsets: [],
      graph: {
        name: '',
        nodes: [{ opType: 'X', inputs: [], outputs: [], attributes: { a: -1 } }],
        initializers: [],
        inputs: [{ name: 'i', elemType: ONNX_DTYPE.float, dims: ['M', 2] }],
        outputs: [],
      },
    });
    // ir_version 300 = 0xac 0x02
    expect(hex(b.subarray(0, 3))).toBe('08ac02');
    const s = hex(b);
    // attribute { name "a" (0a 01 61), i = -1 (18 ff×9 01), type INT (a0 01 02) }
    expect(s).toContain(`0a0161${'18'}${'ff'.repeat(9)}01a00102`);
    // value info { name "i", type { tensor_type { elem_type 1, shape { dim { dim_param "M" }, dim { dim_value 2 } } } } }
    // lengths: shape 9 = (2 + 3) + (2 + 2), tensor_type 13 = 2 + 2 + 9, type 15 = 2 + 13
    expect(s).toContain(`0a0169${'120f'}${'0a0d'}0801${'1209'}${'0a03'}12014d${'0a02'}0802`);
  });
});
