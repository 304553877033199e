import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dequantize, dequantizeModel, quantize, quantizeModel, roundHalfEven, QUANT_SCHEMES, type QuantScheme } from './quantize.cpu.ts';
import { randomModel, randomValues } from './test-data.ts';
import { fromFloat32, toFloat32 } from '../tensor.ts';

describe('quantize golden cases', () => {
  it('int8 with scale exactly 1: round half to even, clamp ±127', () => {
    const q = quantize(Float32Array.from([127, 2.5, -1.5, 0.49, -127]), [5], 'int8', 8);
    expect([...q.scales]).toEqual([1]);
    expect([...q.q]).toEqual([127, 2, -2, 0, -127]);
    expect([...q.data]).toEqual([127, 2, 254, 0, 129]);
  });
  it('int4 packs two values per byte, low nibble first', () => {
    const q = quantize(Float32Array.from([7, -3.5, 2.4, 0]), [4], 'int4', 4);
    expect([...q.scales]).toEqual([1]);
    expect([...q.q]).toEqual([7, -4, 2, 0]);
    expect([...q.data]).toEqual([0xc7, 0x02]);
    expect([...dequantize(q)]).toEqual([7, -4, 2, 0]);
  });
  it('blocks run along the last dimension, one scale per block, the last block shorter', () => {
    // 2 rows of 5, block 2 → 3 blocks per row
    const x = Float32Array.from([1, -2, 3, 4, 5, /* row 2 */ 0, 0, -127, 1, 0]);
    const q = quantize(x, [2, 5], 'int8', 2);
    expect(q.scalesShape).toEqual([2, 3]);
    expect([...q.scales]).toEqual([2 / 127, 4 / 127, 5 / 127, 0, 1, 0].map(Math.fround));
    expect(q.q[9]).toBe(0);
    expect(q.q[7]).toBe(-127);
  });
  it('rounds half to even like WGSL round()', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -3]);
  });
});

describe('quantize properties', () => {
  it('round trip error ≤ scale/2 for every element, both schemes, any block size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 80 }),
        fc.constantFrom<QuantScheme>('int8', 'int4'),
        fc.constantFrom(4, 16, 32, 64),
        (seed, rows, cols, scheme, block) => {
          const x = randomValues(seed, rows * cols, 3);
          const q = quantize(x, [rows, cols], scheme, block);
          const y = dequantize(q);
          const blocks = Math.ceil(cols / block);
          for (let i = 0; i < x.length; i++) {
            const s = q.scales[Math.floor(i / cols) * blocks + Math.floor((i % cols) / block)];
            expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual((s / 2) * (1 + 1e-5) + Math.abs(x[i]) * 1.2e-7);
            expect(Math.abs(q.q[i])).toBeLessThanOrEqual(QUANT_SCHEMES[scheme].qmax);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a model stores its matrices as <name>.q (I8/I4) + <name>.scales (F32), ~4x and ~7x smaller; biases stay', () => {
    const model = [fromFloat32('w', [64, 256], randomValues(1, 64 * 256)), fromFloat32('b', [256], randomValues(2, 256))];
    const bytes = (ts: { data: Uint8Array }[]) => ts.reduce((s, t) => s + t.data.length, 0);
    const q8 = quantizeModel(model, 'int8', 64);
    expect(q8.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['w.q', 'I8', [64, 256]],
      ['w.scales', 'F32', [64, 4]],
      ['b', 'F32', [256]],
    ]);
    const q4 = quantizeModel(model, 'int4', 64);
    const w = model[0].data.length;
    expect(w / (q8[0].data.length + q8[1].data.length)).toBeGreaterThan(3.7);
    expect(w / (q4[0].data.length + q4[1].data.length)).toBeGreaterThan(7);
    expect(bytes(model) / bytes(q4)).toBeGreaterThanOrEqual(6.5); // 66560 / 10240 with the float bias
    // and back: dequantizeModel restores names, shapes and values within scale/2
    const back = dequantizeModel(q8, 64);
    expect(back.map((t) => t.name)).toEqual(['w', 'b']);
    const x = toFloat32(model[0]);
    const y = toFloat32(back[0]);
    const maxScale = Math.max(...new Float32Array(q8[1].data.slice().buffer));
    for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(maxScale / 2 + 1e-6);
  });

  it('the quantized model of a small MLP leaves its 1-D biases in float', () => {
    const names = quantizeModel(randomModel(3), 'int4', 32).map((t) => `${t.name}:${t.dtype}`);
    expect(names).toEqual([
      'fc1.weight.q:I4',
      'fc1.weight.scales:F32',
      'fc1.bias:F32',
      'fc2.weight.q:I4',
      'fc2.weight.scales:F32',
      'fc2.bias:F32',
    ]);
  });
});
