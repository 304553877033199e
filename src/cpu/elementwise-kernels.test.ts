/**
 * Range kernels of soup, crossover, mutation and SLERP (src/core/operators/fast/) against their
 * CPU references: any split of ranges, chunk offsets, every granularity and mode, on seeded inputs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getFastKernel, reduceLocally } from '../core/operators/fast/kernels.ts';
import { getOperator } from '../core/operators/registry.ts';
import { resolveParams } from '../core/operators/params.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';
import type { ReducePlan } from '../core/operators/fast/reduce.ts';
import { Arena } from './arena.ts';
import { simdRange } from './simd.ts';
import { elementwiseSimdPartial } from './simd-elementwise.ts';
import { createNodeCpuPool } from './node.ts';
import type { CpuPool } from './pool.ts';
import { streamKey, tensorKey, unitAt } from '../core/operators/prng.ts';
import { seeded, xorshift32 } from './test-inputs.ts';
import { slerpBox, slerpCertified, slerpPart } from '../core/operators/fast/elementwise.ts';
import { addSlerpSums, slerpCoefficients, slerpFromSums } from '../core/operators/slerp.cpu.ts';
import { fusionKey, fusionKeyValue, fusionPlan, fusionRanks } from '../core/operators/fast/fusion.ts';
import { fusionImportance, fusionKl, fusionRowLength, fusionThreshold } from '../core/operators/arcee-fusion.cpu.ts';

const bits = (a: Float32Array) =>
  Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b, i) => (Number.isNaN(a[i]) ? 0x7fc00000 : b));

/** Run kernel `id` over the ranges cut at `bounds`, its reduce plan first; the output. */
function viaRanges(id: string, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext, bounds: number[]): Float32Array {
  const k = getFastKernel(id);
  const p = { ...params, ...(k.reduce ? reduceLocally(k.reduce, inputs, params, ctx) : {}) };
  const out = new Float32Array(inputs[0].length).fill(NaN);
  for (let i = 0; i + 1 < bounds.length; i++) k.run(inputs, out, p, ctx, bounds[i], bounds[i + 1]);
  return out;
}

const cutsOf = (cuts: number[], n: number) => [0, ...cuts.map((c) => Math.floor(c * n)).sort((a, b) => a - b), n];

describe('element-wise range kernels', () => {
  it('soup (uniform, weighted, seeded), in JavaScript and in SIMD on an arena, equals the reference', () => {
    const arena = new Arena();
    fc.assert(
      fc.property(
        fc.constantFrom('uniform', 'weighted', 'seeded'),
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (mode, P, n, seed, cuts) => {
          const params = { mode, weights: Array.from({ length: P }, (_, i) => ((seed >>> i) % 9) + 0.5) };
          const ctx = { name: 'w', shape: [n], seed };
          const inputs = Array.from({ length: P }, (_, p) => seeded(n, seed + 31 * p, arena.alloc(n)));
          const ref = getOperator('soup').cpu(inputs, params, ctx);
          const bounds = cutsOf(cuts, n);
          expect(bits(viaRanges('soup', inputs, params, ctx, bounds))).toEqual(bits(ref));
          const out = arena.alloc(n).fill(NaN);
          for (let i = 0; i + 1 < bounds.length; i++)
            expect(simdRange('soup', inputs, out, params, ctx, bounds[i], bounds[i + 1], arena.memory)).toBe(true);
          expect(bits(out)).toEqual(bits(ref));
          for (const a of [...inputs, out]) arena.free(a);
        },
      ),
      { numRuns: 60, seed: 8 },
    );
  });

  it('crossover at every granularity, with chunk offsets, equals the reference', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('element', 'row', 'tensor'),
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 1 << 20 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (granularity, P, rows, cols, seed, offset, cuts) => {
          const n = rows * cols;
          const params = { granularity, weights: Array.from({ length: P }, (_, i) => ((seed >>> (2 * i)) % 4) + 0.25) };
          const ctx = { name: 'layer.w', shape: [rows, cols], seed, offset: granularity === 'element' ? offset : 0 };
          const inputs = Array.from({ length: P }, (_, p) => seeded(n, seed + 7 * p));
          expect(bits(viaRanges('crossover', inputs, params, ctx, cutsOf(cuts, n)))).toEqual(
            bits(getOperator('crossover').cpu(inputs, params, ctx)),
          );
        },
      ),
      { numRuns: 80, seed: 12 },
    );
  });

  it('mutation, with its spread given or computed, any rate and chunk offset, equals the reference', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 0.1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1 << 20 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (n, seed, strength, epsilon, rate, givenStd, offset, cuts) => {
          const params: ParamValues = { strength, epsilon, rate, ...(givenStd ? { std: 0.37 } : {}) };
          const ctx = { name: 'm', shape: [n], seed, offset };
          const inputs = [seeded(n, seed)];
          expect(bits(viaRanges('mutate', inputs, params, ctx, cutsOf(cuts, n)))).toEqual(
            bits(getOperator('mutate').cpu(inputs, params, ctx)),
          );
        },
      ),
      { numRuns: 80, seed: 13 },
    );
  });

  it('mutation keeps an element whose draw equals the rate exactly (the rule is u >= rate)', () => {
    const ctx = { name: 'm', shape: [64], seed: 9 };
    const rate = unitAt(streamKey(tensorKey(ctx.seed, ctx.name), 1), 5);
    const params = { strength: 1, epsilon: 0.5, rate, std: 1 };
    const inputs = [seeded(64, 2)];
    const out = viaRanges('mutate', inputs, params, ctx, [0, 64]);
    expect(out[5]).toBe(inputs[0][5]);
    expect(bits(out)).toEqual(bits(getOperator('mutate').cpu(inputs, params, ctx)));
  });

  it('SLERP, on the arc and in the linear case (parallel or zero parents), equals the reference', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom('arc', 'parallel', 'zero'),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (n, seed, t, kind, cuts) => {
          const v0 = seeded(n, seed);
          const v1 = kind === 'arc' ? seeded(n, seed + 1) : kind === 'parallel' ? v0.map((x) => 2 * x) : new Float32Array(n);
          const params = { t };
          const ctx = { name: 's', shape: [n], seed };
          expect(bits(viaRanges('slerp', [v0, v1], params, ctx, cutsOf(cuts, n)))).toEqual(
            bits(getOperator('slerp').cpu([v0, v1], params, ctx)),
          );
        },
      ),
      { numRuns: 80, seed: 14 },
    );
  });

  it('crossover, mutation, SLERP and NearSwap in SIMD on an arena (the last lanes in JavaScript) equal the reference over any split', () => {
    const arena = new Arena();
    fc.assert(
      fc.property(
        fc.constantFrom('crossover', 'mutate', 'slerp', 'nearswap'),
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 0, max: 3001 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (id, P, n, seed, offset, r, cuts) => {
          const params: ParamValues =
            id === 'crossover'
              ? { weights: Array.from({ length: P }, (_, i) => ((seed >>> (2 * i)) % 4) + 0.25 * r) }
              : id === 'mutate'
                ? { strength: 2 * r, epsilon: r < 0.5 ? 0 : 0.05 * r, rate: r < 0.3 ? 1 : r, std: r < 0.1 ? NaN : 0.37 }
                : { t: id === 'nearswap' ? r * 1e-4 : r };
          const k = id === 'crossover' ? P : id === 'mutate' ? 1 : 2;
          const ctx = { name: `simd.${id}`, shape: [n], seed, offset: id === 'slerp' ? 0 : offset };
          const inputs = Array.from({ length: k }, (_, p) => seeded(n, seed + 5 * p, arena.alloc(n)));
          // SLERP: now and then an infinity or a NaN in the sums.
          if (id === 'slerp' && n > 0 && r < 0.1) inputs[(seed & 1) as 0 | 1][seed % n] = r < 0.05 ? Infinity : NaN;
          // NearSwap: close elements too (|a − b| below the floor and at it), and exact equals.
          if (id === 'nearswap') for (let i = 0; i < n; i += 3) inputs[1][i] = inputs[0][i] + (i % 2 ? 1e-6 : (i % 5) * 1e-7);
          const ref = getOperator(id).cpu(inputs, params, ctx);
          const kernel = getFastKernel(id);
          let p = { ...params, ...(kernel.reduce ? reduceLocally(kernel.reduce, inputs, params, ctx) : {}) };
          // SLERP's passes with the SIMD loops lent for these inputs (the bound pass's lanes, the
          // ordered sums) give the same coefficients, and the output below is computed from those.
          if (id === 'slerp') {
            expect(elementwiseSimdPartial(id, inputs, params, arena.memory)).toBeUndefined();
            const lent = reduceLocally(kernel.reduce!, inputs, params, ctx);
            expect(lent).toEqual({ slerpS0: p.slerpS0, slerpS1: p.slerpS1 });
            elementwiseSimdPartial(id, inputs, params, arena.memory);
            expect(kernel.prepare!(inputs, params, ctx)).toEqual(lent);
            p = { ...params, ...lent };
          }
          const bounds = cutsOf(cuts, n);
          const out = arena.alloc(n).fill(NaN);
          for (let i = 0; i + 1 < bounds.length; i++) {
            const handled = simdRange(id, inputs, out, p, ctx, bounds[i], bounds[i + 1], arena.memory);
            // SIMD serves every case here but crossover's fifth parent.
            expect(handled).toBe(id !== 'crossover' || P <= 4);
            if (!handled) kernel.run(inputs, out, p, ctx, bounds[i], bounds[i + 1]);
          }
          expect(bits(out)).toEqual(bits(ref));
          for (const a of [...inputs, out]) arena.free(a);
        },
      ),
      { numRuns: 150, seed: 16 },
    );
  });

  it('the SIMD loops compare the draws as integers: a draw equal to the rate or a crossover threshold, and tiny or extreme amplitudes', () => {
    const arena = new Arena();
    const n = 203;
    const ctx = { name: 'simd.edges', shape: [n], seed: 4242, offset: 9 };
    const key = tensorKey(ctx.seed, ctx.name);
    const inputs = [0, 1, 2].map((p) => seeded(n, 31 + p, arena.alloc(n)));
    const out = arena.alloc(n);
    const check = (id: string, ins: Float32Array[], params: ParamValues, simd: boolean) => {
      out.fill(NaN);
      const handled = simdRange(id, ins, out, params, ctx, 0, n, arena.memory);
      expect(handled, JSON.stringify(params)).toBe(simd);
      if (!handled) getFastKernel(id).run(ins, out, params, ctx, 0, n);
      expect(bits(out)).toEqual(bits(getOperator(id).cpu(ins, params, ctx)));
    };
    // Rates equal to draws of elements 5 and 100 (kept: u >= rate), the smallest and largest steps, 0 and 1.
    for (const at of [5, 100])
      check('mutate', [inputs[0]], { strength: 1, epsilon: 0.5, std: 1, rate: unitAt(streamKey(key, 1), ctx.offset + at) }, true);
    for (const rate of [0, 2 ** -24, 1 - 2 ** -24, 1]) check('mutate', [inputs[0]], { strength: 1, epsilon: 0.5, std: 1, rate }, true);
    // The amplitude: 0, at the smallest exact ampS, below it (the JavaScript kernel), huge (clamped), infinite.
    for (const [std, simd] of [
      [0, true],
      [1e-33, false],
      [1e-20, true],
      [1e30, true],
      [Infinity, true],
    ] as const)
      check('mutate', [inputs[0]], { strength: 1, epsilon: 0.01, rate: 0.75, std }, simd);
    // Crossover thresholds equal to draws (u < c picks the earlier parent, u = c the next).
    for (const at of [7, 150]) {
      const u = unitAt(streamKey(key, 0), ctx.offset + at);
      check('crossover', inputs.slice(0, 2), { weights: [u, 1 - u] }, true);
      check('crossover', inputs, { weights: [u / 2, u / 2, 1 - u] }, true);
    }
    check('crossover', inputs, { weights: [0, 0, 1] }, true);
    check('crossover', inputs, { weights: [1, 0, 0] }, true);
    // Folded keys: runs that cross a multiple of 2¹⁶ in index space (off a vector boundary) and 2³² (indices wrap).
    for (const offset of [65536 - 2, 3 * 65536 - 101, 2 ** 32 - 101]) {
      const c = { ...ctx, offset };
      for (const [id, ins, params] of [
        ['mutate', [inputs[0]], { strength: 1, epsilon: 0.5, std: 1, rate: 0.5 }],
        ['crossover', inputs, { weights: [1, 2, 3] }],
      ] as [string, Float32Array[], ParamValues][]) {
        out.fill(NaN);
        expect(simdRange(id, ins, out, params, c, 1, n, arena.memory)).toBe(true);
        getFastKernel(id).run(ins, out, params, c, 0, 1);
        expect(bits(out), `${id} at ${offset}`).toEqual(bits(getOperator(id).cpu(ins, params, c)));
      }
    }
  });

  it('the SIMD loops called in blocks of 64 K elements (crossover, mutation, SLERP, quantize) carry the draws and sums across calls', () => {
    const arena = new Arena();
    const seed = 12345;
    for (const id of ['crossover', 'mutate', 'slerp', 'quantize']) {
      // Quantize: rows of 44 in blocks of 12 (a shorter last block per row); the others an odd length.
      const n = id === 'quantize' ? 44 * 4470 : 3 * 65536 + 7;
      const op = getOperator(id);
      const P = id === 'crossover' ? 3 : id === 'slerp' ? 2 : 1;
      const inputs = Array.from({ length: P }, (_, p) => seeded(n, seed + 7 * p, arena.alloc(n)));
      const params = resolveParams(op, id === 'quantize' ? { blockSize: 12 } : id === 'mutate' ? { rate: 0.5 } : {}, P);
      const full = { ...params, ...(op.prepare?.({ names: ['w'], shapes: [[n]], inputs: () => inputs }, params, 1).w ?? {}) };
      const ctx = { name: 'w', shape: id === 'quantize' ? [n / 44, 44] : [n], seed, offset: id === 'slerp' || id === 'quantize' ? 0 : 777 };
      const k = getFastKernel(id);
      let pk = full;
      if (id === 'slerp') {
        // The ordered sums in SIMD across calls (prepare, with the loops lent), then the bound pass's lanes across calls.
        const js = reduceLocally(k.reduce!, [...inputs], full, ctx);
        elementwiseSimdPartial(id, inputs, full, arena.memory);
        pk = { ...full, ...k.prepare!(inputs, full, ctx) };
        expect(pk).toEqual({ ...full, ...js });
        elementwiseSimdPartial(id, inputs, full, arena.memory);
        expect(reduceLocally(k.reduce!, inputs, full, ctx)).toEqual(js);
      }
      const out = arena.alloc(n).fill(NaN);
      for (const [a, b] of [
        [0, 5],
        [5, n - 33],
        [n - 33, n],
      ])
        expect(simdRange(id, inputs, out, pk, ctx, a, b, arena.memory), id).toBe(true);
      // The first differing element (a whole-array diff of this size would take minutes to print).
      const [got, want] = [bits(out), bits(op.cpu(inputs, full, ctx))];
      expect(
        got.findIndex((b, i) => b !== want[i]),
        id,
      ).toBe(-1);
      for (const a of [...inputs, out]) arena.free(a);
    }
  });

  /**
   * Quantize over random range cuts equals the reference, for tensors `make(n, qmax, seed, blockSize, cols)` of
   * up to `rows` × `cols` elements in blocks of `blocks` elements.
   */
  const quantizeProperty = (
    arena: Arena,
    rows: number,
    cols: number,
    blocks: [number, number],
    make: (n: number, qmax: number, seed: number, blockSize: number, cols: number) => Float32Array,
    seed: number,
  ) =>
    fc.assert(
      fc.property(
        fc.constantFrom('int8', 'int4'),
        fc.integer({ min: 1, max: rows }),
        fc.integer({ min: 1, max: cols }),
        fc.integer({ min: blocks[0], max: blocks[1] }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (scheme, r, c, blockSize, dataSeed, cuts) => {
          const n = r * c;
          const x = make(n, scheme === 'int8' ? 127 : 7, dataSeed, blockSize, c);
          const params = { scheme, blockSize };
          const ctx = { name: 'q', shape: [r, c], seed: dataSeed };
          expect(bits(viaRanges('quantize', [x], params, ctx, cutsOf(cuts, n)))).toEqual(
            bits(getOperator('quantize').cpu([x], params, ctx)),
          );
          // The SIMD loop on an arena, where it applies: the block size and the last dimension rounded up to multiples of 4.
          const [cA, bA] = [c + (-c & 3), blockSize + (-blockSize & 3)];
          const nA = r * cA;
          const xA = arena.alloc(nA);
          xA.set(make(nA, scheme === 'int8' ? 127 : 7, dataSeed, bA, cA));
          const out = arena.alloc(nA).fill(NaN);
          const pA = { scheme, blockSize: bA };
          const ctxA = { name: 'q', shape: [r, cA], seed: dataSeed };
          const bounds = cutsOf(cuts, nA);
          for (let i = 0; i + 1 < bounds.length; i++)
            expect(simdRange('quantize', [xA], out, pA, ctxA, bounds[i], bounds[i + 1], arena.memory)).toBe(true);
          expect(bits(out)).toEqual(bits(getOperator('quantize').cpu([xA], pA, ctxA)));
          // Elsewhere the JavaScript range kernel runs (nothing done here).
          if (c % 4 !== 0 || blockSize % 4 !== 0) expect(simdRange('quantize', [xA], out, params, ctx, 0, 0, arena.memory)).toBe(false);
          arena.free(xA);
          arena.free(out);
        },
      ),
      { numRuns: 150, seed },
    );

  it('quantize (int8, int4; blocks crossing the ranges, ragged last blocks) equals the reference over any split', () => {
    // Some all-zero blocks (scale 0) and the odd NaN and infinity.
    quantizeProperty(
      new Arena(),
      40,
      90,
      [4, 64],
      (n, _qmax, seed, blockSize) =>
        seeded(n, seed).map((v, i) => (i % 97 === 5 ? NaN : i % 89 === 3 ? -Infinity : Math.floor(i / blockSize) % 7 === 2 ? 0 : v)),
      17,
    );
  });

  it('quantize rounds exact ties half to even, keeps ±0, NaN and ±Inf as the reference, over any split', () => {
    // Blocks whose largest magnitude is qmax·2^e (scale 2^e, exact), the rest k/2·2^e: ties x/s = ±(k + 1/2).
    quantizeProperty(
      new Arena(),
      9,
      50,
      [2, 24],
      (n, qmax, seed, blockSize, cols) => {
        const r = seeded(n, seed);
        return new Float32Array(n).map((_, i) => {
          const e = (((i / blockSize) | 0) % 5) - 2;
          const c = i % cols;
          if (c % blockSize === 0) return (r[i] < 0 ? -qmax : qmax) * 2 ** e;
          if (i % 53 === 7) return [NaN, Infinity, -Infinity, -0][((i / 53) % 4) | 0];
          return (Math.round(r[i] * 4 * qmax) / 2 - qmax) * 2 ** e + (i % 11 === 4 ? -0 : 0);
        });
      },
      18,
    );
  });
});

describe("SLERP's certified bound pass", () => {
  /** The bound pass over the ranges cut at `bounds` (lanes when `lanes` lends the SIMD loops), in range order. */
  const partsOf = (inputs: Float32Array[], bounds: number[], lanes?: Arena) =>
    bounds.slice(1).map((e, i) => {
      // One loan per pass, as each worker's job gets.
      if (lanes) elementwiseSimdPartial('slerp', inputs, {}, lanes.memory);
      return slerpPart(inputs, bounds[i], e);
    });
  const refCoefficients = (v0: Float32Array, v1: Float32Array, t: number) => {
    const { s0, s1 } = slerpCoefficients(v0, v1, t);
    return { s0: Math.fround(s0), s1: Math.fround(s1) };
  };
  /** Inputs of a kind: on the arc, nearly parallel (dot about the linear threshold), opposite, zero, huge or subnormal. */
  const pair = (kind: string, n: number, seed: number, eps: number, into?: Arena): [Float32Array, Float32Array] => {
    const v0 = seeded(n, seed, into?.alloc(n));
    const noise = seeded(n, seed + 1);
    const v1 = into ? into.alloc(n) : new Float32Array(n);
    for (let i = 0; i < n; i++)
      v1[i] =
        kind === 'arc'
          ? noise[i]
          : kind === 'near'
            ? v0[i] + eps * noise[i]
            : kind === 'opposite'
              ? -v0[i] + eps * noise[i]
              : kind === 'zero'
                ? 0
                : kind === 'huge'
                  ? noise[i] * 2 ** 100
                  : noise[i] * 2 ** -140;
    if (kind === 'huge') for (let i = 0; i < n; i++) v0[i] *= 2 ** 90;
    return [v0, v1];
  };

  it('the lanes give the sums exactly where every order does (small integers), in any split and across calls', () => {
    const arena = new Arena();
    for (const n of [0, 3, 17, 4099, 2 * 65536 + 13]) {
      const v0 = arena.alloc(n),
        v1 = arena.alloc(n);
      let s = 7 + n;
      for (let i = 0; i < n; i++) {
        s = xorshift32(s);
        v0[i] = (s % 17) - 8;
        v1[i] = ((s >>> 8) % 9) - 4;
      }
      const bounds = [0, Math.floor(n / 3) & ~15, n];
      const lanes = partsOf([v0, v1], bounds, arena);
      expect(lanes).toEqual(partsOf([v0, v1], bounds));
      if (n > 16) expect(lanes.at(-1)!.t > Math.abs(lanes.at(-1)!.d) && lanes.at(-1)!.a > 0 && lanes.at(-1)!.b > 0).toBe(true);
      arena.free(v0);
      arena.free(v1);
    }
    // On other values the lanes' order rounds differently from one chain: they did run above.
    const n = 2 * 65536 + 13;
    const [v0, v1] = [seeded(n, 5, arena.alloc(n)), seeded(n, 6, arena.alloc(n))];
    expect(partsOf([v0, v1], [0, n], arena)).not.toEqual(partsOf([v0, v1], [0, n]));
  });

  it("certified coefficients are the reference's float32 ones: any split, lanes or JavaScript, on the arc and about the linear threshold", () => {
    const arena = new Arena();
    let certified = 0,
      runs = 0;
    fc.assert(
      fc.property(
        fc.constantFrom('arc', 'near', 'opposite', 'zero', 'huge', 'tiny'),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0.01, max: 0.05, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        fc.boolean(),
        (kind, n, seed, t, eps, cuts, simd) => {
          const [v0, v1] = pair(kind, n, seed, eps, arena);
          const c = slerpCertified(partsOf([v0, v1], cutsOf(cuts, n), simd ? arena : undefined), n, t);
          runs++;
          if (c) {
            certified++;
            expect(c).toEqual(refCoefficients(v0, v1, t));
          }
          arena.free(v0);
          arena.free(v1);
        },
      ),
      { numRuns: 300, seed: 22 },
    );
    // The certificate decides most cases (else the ordered pass would run every time).
    expect(certified / runs).toBeGreaterThan(0.8);
  });

  it('where a float32 coefficient changes with t, or dot crosses the linear threshold, it never certifies another than the reference', () => {
    // At each such point the bound pass's own sums (not the reference's order) would give the
    // other float32 now and then: the certificate must see that its interval straddles the point.
    let naiveWrong = 0,
      left = 0;
    for (let seed = 1; seed <= 24; seed++) {
      const n = 5000;
      const [v0, v1] = pair('arc', n, seed, 0);
      const parts = partsOf([v0, v1], [0, 1232, n]);
      const sum = (k: 'd' | 'a' | 'b') => parts.reduce((acc, p) => acc + p[k], 0);
      const naive = (t: number) => {
        const { s0 } = slerpFromSums(sum('d'), sum('a'), sum('b'), t);
        return Math.fround(s0);
      };
      // Bisect t for adjacent doubles t1 < t2 where the reference's fround(s0) changes.
      let [lo, hi] = [0.3, 0.3 + 1e-5];
      const at = (t: number) => refCoefficients(v0, v1, t).s0;
      if (at(lo) === at(hi)) continue;
      while (true) {
        const mid = (lo + hi) / 2;
        if (mid === lo || mid === hi) break;
        if (at(mid) === at(lo)) lo = mid;
        else hi = mid;
      }
      for (const t of [lo, hi]) {
        if (naive(t) !== at(t)) naiveWrong++;
        const c = slerpCertified(parts, n, t);
        if (c) expect(c).toEqual(refCoefficients(v0, v1, t));
        else left++;
      }
    }
    // Dot about ±0.9995: bisect the noise of a near-parallel pair.
    for (let seed = 1; seed <= 8; seed++) {
      const n = 3000;
      const linear = (eps: number) => {
        const [v0, v1] = pair('near', n, seed, eps);
        return [v0, v1, slerpCoefficients(v0, v1, 0.25).linear] as const;
      };
      let [lo, hi] = [0.001, 0.2];
      if (!linear(lo)[2] || linear(hi)[2]) continue;
      for (let k = 0; k < 60; k++) {
        const mid = (lo + hi) / 2;
        if (linear(mid)[2]) lo = mid;
        else hi = mid;
      }
      for (const eps of [lo, hi]) {
        const [v0, v1] = linear(eps);
        const c = slerpCertified(partsOf([v0, v1], [0, n]), n, 0.25);
        if (c) expect(c).toEqual(refCoefficients(v0, v1, 0.25));
      }
    }
    // The bound pass's sums alone are wrong at some of these points (so a certificate too narrow fails here), and those are left open.
    expect(naiveWrong).toBeGreaterThan(0);
    expect(left).toBeGreaterThanOrEqual(naiveWrong);
  });

  it("the intervals hold the reference's ordered sums, also where its rounding errs one way at every step", () => {
    const ordered = (v0: Float32Array, v1: Float32Array) => addSlerpSums(v0, v1, 0, v0.length);
    const check = (v0: Float32Array, v1: Float32Array, bounds: number[]) => {
      const box = slerpBox(partsOf([v0, v1], bounds), v0.length);
      expect(Array.isArray(box)).toBe(true);
      ordered(v0, v1).forEach((sum, k) => {
        const [lo, hi] = (box as [number, number][])[k];
        expect(sum).toBeGreaterThanOrEqual(lo);
        expect(sum).toBeLessThanOrEqual(hi);
      });
      return box as [number, number][];
    };
    // A 1 first, then terms of about 0.75 ulp(1): every ordered addition rounds up by a quarter ulp,
    // 2¹⁶ ulp in all, beyond the bound pass's own error (γₘ·Σ|pᵢ|, about 2⁻³⁷): only the reference's
    // term (u·Σₖ Qₖ) covers it.
    const n = 1 << 18;
    const v0 = new Float32Array(n).fill(Math.fround(Math.sqrt(0.75) * 2 ** -26));
    v0[0] = 1;
    const v1 = v0.slice();
    const [[, dH]] = check(v0, v1, [0, 4096, n]);
    const [d] = ordered(v0, v1);
    const [ours] = [partsOf([v0, v1], [0, n])[0].d];
    expect(d - ours).toBeGreaterThan(2 ** -37);
    expect(dH).toBeGreaterThan(d);
    for (let seed = 1; seed <= 20; seed++) {
      const [x0, x1] = pair(seed % 2 ? 'arc' : 'near', 20000 + seed, seed, 0.02);
      check(x0, x1, [0, 16 * seed, x0.length]);
    }
  });

  it("each part's t bounds its Σ |x₀x₁| (Cauchy–Schwarz per block), lanes or JavaScript, parallel parents included", () => {
    const arena = new Arena();
    for (const kind of ['arc', 'near', 'opposite', 'huge', 'tiny', 'same']) {
      for (const n of [5, 4099, 2 * 65536 + 77]) {
        const [v0, v1] = pair(kind === 'same' ? 'arc' : kind, n, n + kind.length, 0.02, arena);
        if (kind === 'same') v1.set(v0);
        const bounds = [0, Math.floor(n / 3) & ~15, n];
        for (const lanes of [arena, undefined]) {
          partsOf([v0, v1], bounds, lanes).forEach((part, r) => {
            let abs = 0;
            for (let i = bounds[r]; i < bounds[r + 1]; i++) abs += Math.abs(v0[i] * v1[i]);
            expect(part.t).toBeGreaterThanOrEqual(abs);
          });
        }
        arena.free(v0);
        arena.free(v1);
      }
    }
  });

  it('infinities, NaNs and t outside [0, 1] are left to the ordered pass', () => {
    const [v0, v1] = pair('arc', 100, 3, 0);
    expect(slerpCertified(partsOf([v0, v1], [0, 100]), 100, 1.5)).toBeNull();
    v0[7] = Infinity;
    expect(slerpCertified(partsOf([v0, v1], [0, 100]), 100, 0.5)).toBeNull();
    v0[7] = NaN;
    expect(slerpCertified(partsOf([v0, v1], [0, 100]), 100, 0.5)).toBeNull();
  });
});

describe('the spherical merges (Model Stock, NuSLERP, Multi-SLERP, Karcher) as reduce-then-element-wise range kernels', () => {
  const SPHERICAL = ['model-stock', 'nuslerp', 'nuslerp-base', 'multislerp', 'multislerp-base', 'karcher'];
  const arena = new Arena();
  /** The reduce plan with a per-parent pass split into `parts` workers' shares and range passes over `bounds`, as the pool runs it. */
  function reduceParts(
    id: string,
    inputs: readonly Float32Array[],
    params: ParamValues,
    ctx: TensorContext,
    parts: number,
    bounds: number[],
  ) {
    const plan = getFastKernel(id).reduce!;
    const n = inputs[0].length;
    let step = plan.start(inputs, params, ctx);
    for (let pass = 0; 'carry' in step; pass++) {
      const carry = step.carry;
      const ranges: (readonly [number, number])[] =
        step.split === 'parents'
          ? Array.from({ length: parts }, () => [0, n] as const)
          : step.split === 'whole'
            ? [[0, n] as const]
            : bounds.slice(1).map((e, i) => [bounds[i], e] as const);
      const partials = ranges.map(([a, b], t) =>
        structuredClone(plan.partial(pass, carry, inputs, params, ctx, a, b, { index: t, count: ranges.length })),
      );
      step = plan.merge(pass, carry, partials, ranges, inputs, params, ctx);
    }
    return step.params;
  }

  it('equal the reference: whole tensor, per row or column, with and without a base, any split of ranges and of the Gram pairs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SPHERICAL),
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.record({ filterWise: fc.boolean(), nuslerpFlatten: fc.boolean(), nuslerpRowWise: fc.boolean(), normalizeWeights: fc.boolean() }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (id, parents, rows, cols, seed, flags, parts, cuts) => {
          const op = getOperator(id);
          const P = Math.max(op.parents.min, Math.min(op.parents.max, parents));
          const n = rows * cols;
          const inputs = Array.from({ length: P + (op.needsBase ? 1 : 0) }, (_, p) => seeded(n, seed + 17 * p));
          // Half the runs with parents close to the base or to each other (aligned offsets, small angles).
          if (seed & 1) for (let p = 1; p < inputs.length; p++) for (let i = 0; i < n; i++) inputs[p][i] = inputs[0][i] + inputs[p][i] / 64;
          const weights = Array.from({ length: P }, (_, i) => ((seed >>> (2 * i)) % 4) + 0.5);
          const names = new Set(op.params.map((x) => x.name));
          const given = Object.fromEntries(Object.entries({ ...flags, weights }).filter(([key]) => names.has(key)));
          const params = resolveParams(op, given, P);
          const ctx = { name: `s.${id}`, shape: [rows, cols], seed: 1 };
          let ref: Float32Array;
          try {
            ref = op.cpu(inputs, params, ctx);
          } catch (e) {
            expect(() => viaRanges(id, inputs, params, ctx, [0, n])).toThrow((e as Error).message);
            return;
          }
          const bounds = cutsOf(cuts, n);
          expect(bits(viaRanges(id, inputs, params, ctx, bounds)), id).toEqual(bits(ref));
          const k = getFastKernel(id);
          const p = { ...params, ...reduceParts(id, inputs, params, ctx, Math.min(parts, P), bounds) };
          const out = new Float32Array(n).fill(NaN);
          for (let i = 0; i + 1 < bounds.length; i++) k.run(inputs, out, p, ctx, bounds[i], bounds[i + 1]);
          expect(bits(out), `${id} in ${parts} parts`).toEqual(bits(ref));
          // On an arena: Karcher's and Multi-SLERP's combine pass through the blend / task-delta SIMD loops (2–4 parents).
          const arr = inputs.map((x) => {
            const a = arena.alloc(n);
            a.set(x);
            return a;
          });
          const outA = arena.alloc(n).fill(NaN);
          for (let i = 0; i + 1 < bounds.length; i++)
            if (!simdRange(id, arr, outA, p, ctx, bounds[i], bounds[i + 1], arena.memory))
              k.run(arr, outA, p, ctx, bounds[i], bounds[i + 1]);
          expect(bits(outA), `${id} on the arena`).toEqual(bits(ref));
          const combined = ['karcher', 'multislerp', 'multislerp-base'].includes(id) && P >= (id === 'multislerp-base' ? 1 : 2) && P <= 4;
          if (combined) expect(simdRange(id, arr, outA, p, ctx, 0, n, arena.memory), id).toBe(true);
          for (const a of [...arr, outA]) arena.free(a);
        },
      ),
      { numRuns: 250, seed: 12 },
    );
  });

  it('the comparison catches a base left out of the deltas and a row layout ignored', () => {
    const n = 5000;
    const inputs = [0, 1, 2, 3].map((p) => seeded(n, 90 + p));
    const ctx = { name: 'g', shape: [n], seed: 1 };
    const ref = getOperator('multislerp-base').cpu(inputs, resolveParams(getOperator('multislerp-base'), {}, 3), ctx);
    const p = resolveParams(getOperator('multislerp-base'), {}, 3);
    expect(bits(viaRanges('multislerp-base', inputs, p, ctx, [0, 1234, n]))).toEqual(bits(ref));
    // multislerp without the base on the same inputs is another merge.
    expect(bits(viaRanges('multislerp', inputs.slice(1), p, ctx, [0, n]))).not.toEqual(bits(ref));
    // Model Stock per row (filterWise) and over the whole tensor differ, and the kernel follows each.
    const grid = { name: 'm', shape: [50, 100], seed: 1 };
    const [rowWise, whole] = [true, false].map((filterWise) => {
      const q = { filterWise };
      const r = getOperator('model-stock').cpu(inputs, q, grid);
      expect(bits(viaRanges('model-stock', inputs, q, grid, [0, 777, 2500, n])), `filterWise ${filterWise}`).toEqual(bits(r));
      return bits(r);
    });
    expect(rowWise).not.toEqual(whole);
  });
});

describe('RAM and RAM+ range kernel', () => {
  it('equals the reference: counts summed over any split of ranges, unique and shared changes, infinities and zeros', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('ram', 'ramplus-tl'),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.constantFrom(1e-5, 0.01, 0),
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (id, P, n, seed, epsilon, r, cuts) => {
          const op = getOperator(id);
          const base = seeded(n, seed);
          // Each parent changes about half the elements (so unique and shared both occur), the odd one to infinity.
          const xs = Array.from({ length: P }, (_, p) => {
            const noise = seeded(n, seed + 7 * (p + 1));
            return base.map((b, i) => ((i * (p + 3)) % 7 < 3 ? b : i % 499 === p ? Infinity : b + noise[i]));
          });
          const inputs = [base, ...xs];
          const params = resolveParams(op, id === 'ram' ? { epsilon } : { epsilon, r, alpha: 0.3 }, P);
          const ctx = { name: 'r', shape: [n], seed: 1 };
          const ref = op.cpu(inputs, params, ctx);
          const bounds = cutsOf(cuts, n);
          expect(bits(viaRanges(id, inputs, params, ctx, bounds))).toEqual(bits(ref));
          // The counts pass split by the same ranges, as the pool splits it.
          const k = getFastKernel(id);
          const ranges = bounds.slice(1).map((e, i) => [bounds[i], e] as const);
          let step = k.reduce!.start(inputs, params, ctx);
          if ('carry' in step) {
            const carry = step.carry;
            const parts = ranges.map(([a, b], t) =>
              k.reduce!.partial(0, carry, inputs, params, ctx, a, b, { index: t, count: ranges.length }),
            );
            step = k.reduce!.merge(0, carry, parts, ranges, inputs, params, ctx);
          }
          const derived = 'params' in step ? step.params : {};
          const out = new Float32Array(n).fill(NaN);
          for (const [a, b] of ranges) k.run(inputs, out, { ...params, ...derived }, ctx, a, b);
          expect(bits(out)).toEqual(bits(ref));
        },
      ),
      { numRuns: 150, seed: 14 },
    );
  });
});

describe('SCE range kernel', () => {
  it('equals the reference: every selectTopk (none, some with ties at the cutoff, all), zero-variance elements, any split', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, 0.5)),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (P, n, seed, selectTopk, cuts) => {
          const base = seeded(n, seed);
          // Deltas on a coarse grid (equal variances, so ties at the cutoff), some elements unchanged by every parent.
          const xs = Array.from({ length: P }, (_, p) => base.map((b, i) => (i % 5 === 0 ? b : b + (((i * (p + 2) + seed) % 9) - 4) / 8)));
          const inputs = [base, ...xs];
          const params = { selectTopk };
          const ctx = { name: 'c', shape: [n], seed: 1 };
          const ref = getOperator('sce').cpu(inputs, params, ctx);
          expect(bits(viaRanges('sce', inputs, params, ctx, cutsOf(cuts, n)))).toEqual(bits(ref));
        },
      ),
      { numRuns: 150, seed: 15 },
    );
  });
});

describe('magnitude pruning range kernel', () => {
  it('equals the reference (exact bottom-m, ties by lower index) over any split of ranges and reduce parts', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (n, seed, fraction, levels, cuts) => {
          // Few magnitudes (exact ties), both signs and ±0, and the odd infinity or NaN.
          const x = seeded(n, seed).map((v, i) =>
            i % 101 === 7 ? Infinity : i % 211 === 3 ? NaN : Math.sign(v) * (Math.floor(Math.abs(v) * levels) / levels),
          );
          const params = { fraction };
          const ctx = { name: 'p', shape: [n], seed: 1 };
          const ref = getOperator('prune').cpu([x], params, ctx);
          const bounds = cutsOf(cuts, n);
          expect(bits(viaRanges('prune', [x], params, ctx, bounds))).toEqual(bits(ref));
          // The reduce plan split by range, partials through structured clone, as the pool runs it.
          const k = getFastKernel('prune');
          const ranges = bounds.slice(1).map((e, i) => [bounds[i], e] as const);
          let step = k.reduce!.start([x], params, ctx);
          for (let pass = 0; 'carry' in step; pass++) {
            const carry = step.carry;
            const partials = ranges.map(([s, e], t) =>
              structuredClone(k.reduce!.partial(pass, carry, [x], params, ctx, s, e, { index: t, count: ranges.length })),
            );
            step = k.reduce!.merge(pass, carry, partials, ranges, [x], params, ctx);
          }
          const out = new Float32Array(n);
          k.run([x], out, { ...params, ...step.params }, ctx, 0, n);
          expect(bits(out)).toEqual(bits(ref));
        },
      ),
      { numRuns: 150, seed: 15 },
    );
  });
});

describe('element-wise range kernels on the worker pool', () => {
  let pool: CpuPool;
  beforeAll(async () => {
    pool = await createNodeCpuPool(2);
  });
  afterAll(() => pool?.terminate());

  it('soup, crossover, mutate, SLERP, pruning, quantize, NearSwap, Model Stock, NuSLERP, Multi-SLERP, Karcher, RAM+ and SCE split across workers (the whole-tensor sums on one) equal the reference', async () => {
    const n = 120_007;
    for (const id of [
      'soup',
      'crossover',
      'mutate',
      'slerp',
      'prune',
      'quantize',
      'nearswap',
      'model-stock',
      'nuslerp-base',
      'multislerp',
      'karcher',
      'ramplus-tl',
      'sce',
      'arcee-fusion',
    ]) {
      const op = getOperator(id);
      const P = Math.min(3, op.parents.max);
      const inputs = Array.from({ length: P + (op.needsBase ? 1 : 0) }, (_, p) => seeded(n, 40 + p, pool.alloc(n)));
      const params = resolveParams(op, id === 'soup' ? { mode: 'seeded' } : {}, P);
      const ctx = { name: `t.${id}`, shape: [n], seed: 3 };
      const out = pool.alloc(n);
      const [stats, refStats] = [{}, {}];
      await pool.run(id, inputs, out, params, { ...ctx, stats });
      expect(bits(out), id).toEqual(bits(op.cpu(inputs, params, { ...ctx, stats: refStats })));
      // The counts the reference reports (Karcher's iterations, TIES-like counts) come back from the pool too.
      expect(stats, id).toEqual(refStats);
      for (const a of [...inputs, out]) pool.free(a);
    }
  });
  it("Arcee Fusion per row (rows straddling the workers' ranges), with ties, ±0 and a NaN row, equals the reference", async () => {
    const [rows, cols] = [337, 357];
    const n = rows * cols;
    const op = getOperator('arcee-fusion');
    const base = seeded(n, 91, pool.alloc(n));
    const x = pool.alloc(n);
    const noise = seeded(n, 92);
    for (let i = 0; i < n; i++) x[i] = i % 3 === 0 ? base[i] : i % 5 === 0 ? base[i] + (i % 4) / 4 : base[i] + noise[i];
    x[200 * cols + 5] = NaN;
    const ctx = { name: 't.fusion', shape: [rows, cols], seed: 3 };
    const out = pool.alloc(n);
    await pool.run('arcee-fusion', [base, x], out, {}, ctx);
    expect(bits(out)).toEqual(bits(op.cpu([base, x], {}, ctx)));
    for (const a of [base, x, out]) pool.free(a);
  });
});

describe('Arcee Fusion range kernel', () => {
  /** The reduce plan over the ranges cut at `bounds`, partials through structured clone, as the pool runs it; then the ranges. */
  function fusionViaParts(
    inputs: readonly Float32Array[],
    ctx: TensorContext,
    bounds: number[],
    plan: ReducePlan,
  ): { out: Float32Array; params: ParamValues } {
    const k = getFastKernel('arcee-fusion');
    const ranges = bounds.slice(1).map((e, i) => [bounds[i], e] as const);
    let step = plan.start(inputs, {}, ctx);
    for (let pass = 0; 'carry' in step; pass++) {
      const carry = structuredClone(step.carry);
      const partials = ranges.map(([s, e], t) =>
        structuredClone(plan.partial(pass, carry, inputs, {}, ctx, s, e, { index: t, count: ranges.length })),
      );
      step = plan.merge(pass, carry, partials, ranges, inputs, {}, ctx);
    }
    const out = new Float32Array(inputs[0].length).fill(NaN);
    for (const [s, e] of ranges) k.run(inputs, out, step.params, ctx, s, e);
    return { out, params: step.params };
  }

  /** Base and model: `mode` 0 seeded noise, 1 coarse deltas (ties at the ranks) with unchanged elements (±0 importances), 2 one-ulp changes (KL about 0, either sign). */
  function fusionInputs(n: number, cols: number, seed: number, mode: number, nan: boolean): Float32Array[] {
    const base = seeded(n, seed);
    const noise = seeded(n, seed + 5);
    const x = base.map((b, i) =>
      mode === 0
        ? b + noise[i]
        : mode === 1
          ? i % 3 === 0
            ? b
            : b + (((i * 7 + seed) % 5) - 2) / 4
          : i % cols === seed % cols
            ? b + (b === 0 ? 1e-30 : Math.abs(b) * 2 ** -23 * (noise[i] < 0 ? -1 : 1))
            : b,
    );
    if (nan && n > 0) x[seed % n] = NaN;
    return [base, x];
  }

  it('equals the reference: 1-D and 2-D, rows straddling any cut of 1–3 ranges, ties at the ranks, ±0, NaN, tiny negative KL', () => {
    let negativeKl = 0;
    let tiesAtRank = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 70 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 9 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 2 }),
        (rows, cols, twoD, seed, mode, nanDie, cuts) => {
          const n = rows * cols;
          const inputs = fusionInputs(n, cols, seed, mode, nanDie === 0);
          const ctx = { name: 'a.w', shape: twoD ? [rows, cols] : [n], seed: 1 };
          const ref = getOperator('arcee-fusion').cpu(inputs, {}, ctx);
          const bounds = cutsOf(cuts, n);
          // Every row by the part it starts in, and every row (under 64 of them) by the long-row passes.
          // The rows' KL too, bit for bit (a wrong softmax shift moves it by a rounding only, which the output may hide).
          const len = fusionRowLength(ctx.shape, n);
          const refKl = n > 0 ? Array.from(fusionKl(inputs[0], inputs[1], len)) : undefined;
          for (const [name, plan] of [
            ['short rows', fusionPlan(Infinity)],
            ['long rows', fusionPlan(1)],
          ] as const) {
            const { out, params } = fusionViaParts(inputs, ctx, bounds, plan);
            expect(bits(out), name).toEqual(bits(ref));
            expect(params.fusionKl, name).toEqual(refKl);
          }
          expect(bits(viaRanges('arcee-fusion', inputs, {}, ctx, bounds))).toEqual(bits(ref));
          // The generator reaches the edge cases it claims (counted over the runs below).
          if (n > 0) {
            if (fusionKl(inputs[0], inputs[1], len).some((v) => v < 0)) negativeKl++;
            const sorted = fusionImportance(inputs[0], inputs[1], fusionKl(inputs[0], inputs[1], len), len).sort();
            expect(reduceLocally(getFastKernel('arcee-fusion').reduce!, inputs, {}, ctx).fusionThreshold).toBe(fusionThreshold(sorted));
            const r = fusionRanks(n)[0];
            if (r + 1 < n && sorted[r] === sorted[r + 1]) tiesAtRank++;
          }
        },
      ),
      { numRuns: 400, seed: 22 },
    );
    expect(negativeKl).toBeGreaterThan(5);
    expect(tiesAtRank).toBeGreaterThan(20);
  });

  it('its sort keys order as Float32Array sort: −0 before +0, every NaN last whatever its sign, round trip', () => {
    const u = new Uint32Array([
      0x80000000, 0, 0xffc00000, 0x7fc00001, 0xff800000, 0x7f800000, 1, 0x80000001, 0x3f800000, 0xbf800000, 0xff800001,
    ]);
    const v = new Float32Array(u.buffer);
    const sorted = Float32Array.from(v).sort();
    const byKey = Array.from(u, (b) => fusionKey(b))
      .sort((a, b) => a - b)
      .map(fusionKeyValue);
    expect(bits(Float32Array.from(byKey))).toEqual(bits(sorted));
    expect(Object.is(byKey[3], -0) && Object.is(byKey[4], 0)).toBe(true);
    for (const b of u)
      if (!Number.isNaN(v[u.indexOf(b)])) expect(new Uint32Array(Float32Array.of(fusionKeyValue(fusionKey(b))).buffer)[0]).toBe(b);
  });

  it('a threshold from the wrong order statistic, or the KL of another row, changes the merge (the comparison can fail)', () => {
    const rows = 30,
      cols = 50,
      n = rows * cols;
    const inputs = fusionInputs(n, cols, 7, 0, false);
    const ctx = { name: 'a.w', shape: [rows, cols], seed: 1 };
    const ref = getOperator('arcee-fusion').cpu(inputs, {}, ctx);
    const k = getFastKernel('arcee-fusion');
    const p = reduceLocally(k.reduce!, inputs, {}, ctx);
    const run = (q: ParamValues) => {
      const out = new Float32Array(n);
      k.run(inputs, out, q, ctx, 0, n);
      return bits(out);
    };
    expect(run(p)).toEqual(bits(ref));
    const imp = fusionImportance(inputs[0], inputs[1], fusionKl(inputs[0], inputs[1], cols), cols).sort();
    expect(p.fusionThreshold).toBe(fusionThreshold(imp));
    // One float above the least kept importance as the threshold drops the elements at it.
    const least = imp.find((v) => v >= (p.fusionThreshold as number))!;
    expect(least).toBeGreaterThan(0);
    const up = new Float32Array([least]);
    new Uint32Array(up.buffer)[0]++;
    expect(run({ ...p, fusionThreshold: up[0] })).not.toEqual(bits(ref));
    expect(run({ ...p, fusionKl: (p.fusionKl as number[]).slice(1).concat([0]) })).not.toEqual(bits(ref));
  });
});
