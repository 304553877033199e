/**
 * The task-arithmetic family's range kernel (src/core/operators/fast/task-arithmetic.ts) against
 * its CPU reference (task-arithmetic.cpu.ts): every member, every parameter the kernel handles,
 * any split of ranges and of reduce parts, on seeded inputs with exact ties, ±0 and infinities.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getFastKernel, hasFastKernel, reduceLocally, type RangeKernel, type ReducePlan } from '../core/operators/fast/kernels.ts';
import { getOperator, listOperators } from '../core/operators/registry.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';
import { resolveParams } from '../core/operators/params.ts';
import { createNodeCpuPool } from './node.ts';
import type { CpuPool } from './pool.ts';
import { Arena } from './arena.ts';
import { reduceSplit } from './reduce-split.ts';
import { simdRange } from './simd.ts';
import { CANDIDATES_MAX, isKept, isPruned, pruneThreshold } from '../core/operators/select.ts';
import { passLoopsOn, SELECT_SCRATCH_BYTES, simpleThresholds } from './simd-select.ts';
import { withPassLoops, type PassLoops } from '../core/operators/fast/loops.ts';
import { streamKey, tensorKey, unitAt } from '../core/operators/prng.ts';
import {
  certifiedNorms,
  l1Interval,
  samplePositions,
  sampleRun,
  binWindowPart,
  windowBins,
  windowCutoff,
  windowHistogram,
} from '../core/operators/fast/task-arithmetic.ts';
import type { WindowPart } from '../core/operators/fast/loops.ts';

const FAMILY = listOperators()
  .filter((op) => hasFastKernel(op.id) && op.kernel?.id === 'task-arithmetic')
  .map((op) => op.id);

/** Float32 bits, every NaN as one pattern (WebAssembly and JavaScript may differ in NaN payloads only). */
const bits = (a: Float32Array) =>
  Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b, i) => (Number.isNaN(a[i]) ? 0x7fc00000 : b));

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** A base and parents whose deltas repeat a few magnitudes (exact ties), with ±0 and the odd infinity. */
function family(n: number, parents: number, seed: number, into?: (n: number) => Float32Array): Float32Array[] {
  const r = xorshift(seed);
  const make = into ?? ((m: number) => new Float32Array(m));
  const base = make(n);
  for (let i = 0; i < n; i++) {
    const s = r();
    // Half the seeds give a base on a coarse grid, so x − base is exact and equal magnitudes abound.
    base[i] = s % 50 === 0 ? 0 : s % 50 === 1 ? -0 : seed & 1 ? ((s >>> 8) % 64) / 16 - 2 : (s / 4294967296 - 0.5) * 2 ** ((s & 7) - 3);
  }
  const steps = [0, 0.25, -0.25, 0.5, -0.5, 1, -1, 2, -0, 0.125];
  return [
    base,
    ...Array.from({ length: parents }, () => {
      const x = make(n);
      for (let i = 0; i < n; i++) {
        const s = r();
        x[i] = s % 997 === 0 ? Infinity : base[i] + steps[s % steps.length] * (s & 1024 ? 1 : 1e-3);
      }
      return x;
    }),
  ];
}

/**
 * Run a range kernel over consecutive ranges [bounds[i], bounds[i + 1]) and expect the reference's
 * bits and counts (the sign conflicts and each parent's kept count), summed over the ranges.
 */
function expectRanges(
  k: RangeKernel,
  inputs: readonly Float32Array[],
  p: ParamValues,
  ctx: TensorContext,
  bounds: number[],
  ref: Float32Array,
  refStats: Record<string, number>,
  alloc: (n: number) => Float32Array = (n) => new Float32Array(n),
): void {
  const out = alloc(ref.length).fill(NaN);
  const counts: Record<string, number> = {};
  for (let i = 0; i + 1 < bounds.length; i++)
    for (const [key, v] of Object.entries(k.run(inputs, out, p, ctx, bounds[i], bounds[i + 1]) ?? {})) counts[key] = (counts[key] ?? 0) + v;
  expect(bits(out)).toEqual(bits(ref));
  expect(counts).toEqual(refStats);
}

const params = fc.record({
  op: fc.constantFrom(...FAMILY),
  density: fc.double({ min: 0, max: 1, noNaN: true }),
  drop: fc.double({ min: 0, max: 1, noNaN: true }),
  gamma: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.01, 0.5)),
  rescale: fc.constantFrom('none', 'inverse', 'l1'),
  normalize: fc.boolean(),
  lambda: fc.double({ min: -2, max: 2, noNaN: true }),
  clipNorm: fc.constantFrom(0, 0, 0.5, 5, 1e6),
  offset: fc.integer({ min: 0, max: 1 << 20 }),
});

function paramsFor(
  op: string,
  x: { density: number; drop: number; gamma: number; rescale: string; normalize: boolean; lambda: number; clipNorm: number },
  parents: number,
  seed: number,
  n: number,
): ParamValues {
  const def = getOperator(op);
  const names = new Set(def.params.map((p) => p.name));
  const p: ParamValues = {
    normalize: x.normalize,
    lambda: x.lambda,
    weights: Array.from({ length: parents }, (_, i) => ((seed >>> (3 * i)) % 5) * 0.5 - 0.75),
  };
  if (op === 'federated') p.weights = (p.weights as number[]).map((w) => Math.abs(w) + 0.25);
  if (names.has('density')) p.density = Math.floor(x.density * n) > 0 ? x.density : 1;
  if (names.has('drop')) p.drop = x.drop;
  if (names.has('gamma')) p.gamma = x.gamma;
  // DELLA needs density ± epsilon inside (0, 1).
  if (names.has('epsilon')) {
    p.epsilon = 0.1;
    if (p.density !== 1) p.density = 0.15 + 0.7 * x.density;
  }
  if (names.has('rescale')) p.rescale = x.rescale;
  if (names.has('clipNorm')) Object.assign(p, { clipNorm: x.clipNorm, clipScope: 'tensor' });
  return p;
}

/**
 * Every member and parameter over any split of ranges and reduce parts, against the reference's
 * bits and counts; with `loops` lent to the kernel (their arrays from `alloc`).
 */
function familyProperty(o: {
  maxParents: number;
  numRuns: number;
  seed: number;
  clip?: (seed: number) => boolean;
  inputs?: (n: number, P: number, seed: number) => Float32Array[];
  alloc?: (n: number) => Float32Array;
  free?: (a: Float32Array) => void;
  loops?: PassLoops;
}): void {
  fc.assert(
    fc.property(
      params,
      fc.integer({ min: 1, max: o.maxParents }),
      fc.integer({ min: 1, max: 3000 }),
      fc.integer({ min: 1, max: 2 ** 31 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
      fc.integer({ min: 1, max: 3 }),
      (x, parents, n, seed, cuts, workers) => {
        const op = getOperator(x.op);
        const P = Math.max(op.parents.min, parents);
        const p = paramsFor(x.op, { ...x, clipNorm: o.clip?.(seed) === false ? 0 : x.clipNorm }, P, seed, n);
        const inputs = o.inputs ? o.inputs(n, P, seed) : family(n, P, seed);
        const ctx: TensorContext = { name: `h.${seed % 7}.w`, shape: [n], seed: seed % 1000, offset: x.offset };
        const refStats: Record<string, number> = {};
        const ref = op.cpu(inputs, p, { ...ctx, stats: refStats });
        const k = getFastKernel(x.op);
        const bounds = [0, ...cuts.map((c) => Math.floor(c * n)).sort((a, b) => a - b), n];
        try {
          withPassLoops(o.loops ?? null, () => {
            for (const derived of [
              reduceLocally(k.reduce!, inputs, p, ctx),
              reduceSplit(k.reduce!, inputs, p, ctx, bounds, workers).derived,
            ])
              expectRanges(k, inputs, { ...p, ...derived }, ctx, bounds, ref, refStats, o.alloc);
          });
        } finally {
          if (o.free) for (const a of inputs) o.free(a);
        }
      },
    ),
    { numRuns: o.numRuns, seed: o.seed },
  );
}

describe('task-arithmetic family range kernel', () => {
  it('covers task delta, sparse task delta, DARE, TIES, DARE-TIES, the federated update, breadcrumbs and DELLA (with and without TIES)', () => {
    expect(FAMILY).toEqual(
      expect.arrayContaining([
        'task-delta',
        'sparse-task-delta',
        'dare',
        'ties',
        'dare-ties',
        'federated',
        'breadcrumbs',
        'breadcrumbs-ties',
        'della',
        'della-linear',
      ]),
    );
  });

  it('equals the reference for every member and parameter, over any split of ranges and reduce parts', () => {
    familyProperty({ maxParents: 4, numRuns: 300, seed: 23 });
  });

  it('stops the kept run exactly at the cutoff index when the next element has the same magnitude', () => {
    // Deltas 0.25, 0.25, 0, 0, …: k = 101 keeps the first element of the 51st pair (index 201, and 203 for the 0.5s of the second parent), not its twin.
    const n = 1000;
    const base = new Float32Array(n).map((_, i) => (i % 32) / 8 - 2);
    const inputs = [base, base.map((b, i) => b + (i % 4 < 2 ? 0.25 : 0)), base.map((b, i) => b + (i % 4 < 2 ? -0.25 : 0.5))];
    for (const op of ['ties', 'sparse-task-delta']) {
      const p = { density: 0.101, normalize: op === 'ties' };
      const c = { name: 't', shape: [n], seed: 1 };
      const k = getFastKernel(op);
      const derived = reduceLocally(k.reduce!, inputs, p, c);
      expect(derived.fastTrimIndex, op).toEqual([201, 203]);
      const out = new Float32Array(n);
      k.run(inputs, out, { ...p, ...derived }, c, 0, n);
      expect(bits(out), op).toEqual(bits(getOperator(op).cpu(inputs, p, c)));
    }
  });

  it('places the index by the ordered walk when a range has more candidates than its list holds', () => {
    // Most deltas share one magnitude (±0.5), so the cutoff's high bucket overflows CANDIDATES_MAX in one range but not in small ones.
    const n = CANDIDATES_MAX + 5001;
    const base = new Float32Array(n).map((_, i) => (i % 16) / 4 - 2);
    const inputs = [base, base.map((b, i) => b + (i % 7 === 0 ? 1 : i % 3 ? 0.5 : -0.5)), base.map((b, i) => b + (i % 5 ? -0.5 : 0.25))];
    for (const op of ['ties', 'sparse-task-delta', 'breadcrumbs', 'breadcrumbs-ties']) {
      const p = { density: 0.4, gamma: 0.1, normalize: op.endsWith('ties') };
      const c = { name: 't', shape: [n], seed: 1 };
      const ref = getOperator(op).cpu(inputs, p, c);
      const k = getFastKernel(op);
      for (const bounds of [
        [0, n],
        [0, 1000, 1000 + CANDIDATES_MAX / 2, n],
        Array.from({ length: 9 }, (_, i) => Math.floor((i * n) / 8)),
      ]) {
        const derived = reduceSplit(k.reduce!, inputs, p, c, bounds, 2).derived;
        const out = new Float32Array(n);
        k.run(inputs, out, { ...p, ...derived }, c, 0, n);
        expect(bits(out), `${op} ${bounds.length - 1} ranges`).toEqual(bits(ref));
      }
    }
    const x = inputs[1].map((v, i) => v - base[i]);
    const prune = getFastKernel('prune');
    for (const bounds of [[0, n], Array.from({ length: 9 }, (_, i) => Math.floor((i * n) / 8))]) {
      const p = { fraction: 0.3 };
      const c = { name: 'p', shape: [n], seed: 1 };
      const out = new Float32Array(n);
      prune.run([x], out, { ...p, ...reduceSplit(prune.reduce!, [x], p, c, bounds, 2).derived }, c, 0, n);
      expect(bits(out)).toEqual(bits(getOperator('prune').cpu([x], p, c)));
    }
  });

  it('DELLA ranks and draws row by row: any split of a 2-D tensor, rows cut by ranges, equals the reference', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('della', 'della-linear'),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.constantFrom('l1', 'inverse', 'none'),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (id, rows, cols, seed, rescale, cuts) => {
          const n = rows * cols;
          const inputs = family(n, 3, seed);
          const p = { density: 0.2 + ((seed >>> 4) % 60) / 100, epsilon: 0.15, rescale, normalize: true, weights: [1, 0.5, -0.75] };
          const ctx: TensorContext = { name: `l.${seed % 5}.w`, shape: [rows, cols], seed: seed % 97 };
          const refStats: Record<string, number> = {};
          const ref = getOperator(id).cpu(inputs, p, { ...ctx, stats: refStats });
          const k = getFastKernel(id);
          const bounds = [0, ...cuts.map((c) => Math.floor(c * n)).sort((a, b) => a - b), n];
          expectRanges(k, inputs, { ...p, ...reduceSplit(k.reduce!, inputs, p, ctx, bounds, 2).derived }, ctx, bounds, ref, refStats);
        },
      ),
      { numRuns: 150, seed: 31 },
    );
  });

  it('uses cutoffs and clip factors given by the model pre-pass (model-wide trimming, update-wide clipping, streamed chunks)', () => {
    const n = 3000;
    const inputs = family(n, 3, 5);
    for (const op of ['ties', 'sparse-task-delta']) {
      const p = { density: 0.3, normalize: true, trimBits: [0x3e800000, 0x3f000000, 0], trimIndex: [1500, 2000, 10], rescale: 'inverse' };
      const c = { name: 't', shape: [n], seed: 1, offset: 700 };
      const ref = getOperator(op).cpu(inputs, p, c);
      const out = new Float32Array(n);
      const k = getFastKernel(op);
      k.run(inputs, out, { ...p, ...reduceLocally(k.reduce!, inputs, p, c) }, c, 0, n);
      expect(bits(out), op).toEqual(bits(ref));
    }
    const p = { normalize: true, weights: [1, 2, 3], clipNorm: 0.5, clipScope: 'update', clipFactors: [0.25, 1, 0.7] };
    const c = { name: 'f', shape: [n], seed: 1 };
    const k = getFastKernel('federated');
    const out = new Float32Array(n);
    k.run(inputs, out, { ...p, ...reduceLocally(k.reduce!, inputs, p, c) }, c, 0, n);
    expect(bits(out)).toEqual(bits(getOperator('federated').cpu(inputs, p, c)));
    expect(() => reduceLocally(k.reduce!, inputs, { normalize: true, weights: [1, 2, 3], clipNorm: 0.5, clipScope: 'update' }, c)).toThrow(
      /update-wide clipping needs the model pre-pass/,
    );
  });
});

describe('task delta and federated in WebAssembly SIMD, in place on an arena', () => {
  it('the fused taK loops over any ranges equal the reference', () => {
    const arena = new Arena();
    fc.assert(
      fc.property(
        fc.constantFrom('task-delta', 'federated'),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.boolean(),
        fc.double({ min: -2, max: 2, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (id, P, n, seed, normalize, lambda, cuts) => {
          const inputs = family(n, P, seed, (m) => arena.alloc(m));
          const weights = Array.from({ length: P }, (_, i) => ((seed >>> (3 * i)) % 5) * 0.5 - (id === 'federated' ? 0 : 0.75));
          const p = { weights, normalize, lambda };
          const c = { name: 'w', shape: [n], seed: 1 };
          const out = arena.alloc(n).fill(NaN);
          const bounds = [0, ...cuts.map((x) => Math.floor(x * n)).sort((a, b) => a - b), n];
          for (let i = 0; i + 1 < bounds.length; i++)
            expect(simdRange(id, inputs, out, p, c, bounds[i], bounds[i + 1], arena.memory)).toBe(P <= 4);
          if (P <= 4) expect(bits(out)).toEqual(bits(getOperator(id).cpu(inputs, p, c)));
          for (const a of [...inputs, out]) arena.free(a);
        },
      ),
      { numRuns: 80, seed: 4 },
    );
    // Sparsifying, electing or clipping members keep to their JavaScript range kernel.
    const x = arena.alloc(8);
    expect(simdRange('ties', [x, x, x], x, {}, { name: 'w', shape: [8], seed: 1 }, 0, 8, arena.memory)).toBe(false);
    expect(simdRange('federated', [x, x], x, { clipNorm: 1 }, { name: 'w', shape: [8], seed: 1 }, 0, 8, arena.memory)).toBe(false);
  });
});

describe('task-arithmetic family on the worker pool', () => {
  let pool: CpuPool;
  beforeAll(async () => {
    pool = await createNodeCpuPool(2);
  });
  afterAll(() => pool?.terminate());

  it('every member with its defaults and with L1 rescale and clipping, split across workers, equals the reference', async () => {
    const n = 150_001;
    for (const id of FAMILY) {
      const op = getOperator(id);
      const P = Math.max(op.parents.min, 3);
      const inputs = family(n, P, id.length * 7, (m) => pool.alloc(m));
      for (const extra of [{}, { rescale: 'l1' }, { clipNorm: 3, clipScope: 'tensor' }] as ParamValues[]) {
        const names = new Set(op.params.map((p) => p.name));
        if (Object.keys(extra).some((key) => !names.has(key))) continue;
        const p = resolveParams(op, extra, P);
        const ctx = { name: `m.${id}`, shape: [n], seed: 5 };
        const refStats: Record<string, number> = {};
        const ref = op.cpu(inputs, p, { ...ctx, stats: refStats });
        const out = pool.alloc(n);
        const stats: Record<string, number> = {};
        await pool.run(id, inputs, out, p, { ...ctx, stats });
        expect(bits(out), `${id} ${JSON.stringify(extra)}`).toEqual(bits(ref));
        expect(stats.signConflicts, id).toBe(refStats.signConflicts);
        pool.free(out);
      }
      for (const a of inputs) pool.free(a);
    }
  });
});

describe('the selection and sparsification passes in WebAssembly SIMD (simd-select.ts), lent on an arena', () => {
  const arena = new Arena();
  const simd = passLoopsOn(arena.memory, arena.alloc(SELECT_SCRATCH_BYTES / 4).byteOffset)!;
  /** The loops, counting the calls each one took (returned a result) so a test knows they ran. */
  function counted(loops: PassLoops, taken: Record<string, number>): PassLoops {
    const wrap =
      <K extends keyof PassLoops>(key: K) =>
      (...args: Parameters<PassLoops[K]>) => {
        const r = (loops[key] as (...a: Parameters<PassLoops[K]>) => ReturnType<PassLoops[K]>)(...args);
        if (r) taken[key] = (taken[key] ?? 0) + 1;
        return r;
      };
    return {
      histHigh: wrap('histHigh'),
      lowCandidates: wrap('lowCandidates'),
      window: wrap('window'),
      l1Random: wrap('l1Random'),
      l1Lanes: wrap('l1Lanes'),
      prune: wrap('prune'),
      apply: wrap('apply'),
    } as PassLoops;
  }
  /** Parents with the odd NaN delta (the reference orders NaN above +Inf) besides the family's ties, ±0 and infinities. */
  const withNaN = (inputs: Float32Array[], seed: number) => {
    if (seed % 3 === 0) for (let i = seed % 11; i < inputs[0].length; i += 211) inputs[1 + (i % (inputs.length - 1))][i] = NaN;
    return inputs;
  };

  it('give the reference bits and counts for every member, over any split of ranges and reduce parts', () => {
    expect(simd).not.toBeNull();
    const taken: Record<string, number> = {};
    const loops = counted(simd, taken);
    familyProperty({
      maxParents: 5,
      numRuns: 150,
      seed: 29,
      // The loops take unclipped deltas only: most runs without clipping, so they run often.
      clip: (seed) => seed % 4 === 0,
      inputs: (n, P, seed) =>
        withNaN(
          family(n, P, seed, (m) => arena.alloc(m)),
          seed,
        ),
      alloc: (m) => arena.alloc(m),
      free: (a) => arena.free(a),
      loops,
    });
    // Every loop ran (none declined its way out of the test); the radix passes where no window serves (few samples, many equal magnitudes, a miss).
    for (const key of ['l1Lanes', 'apply']) expect(taken[key], key).toBeGreaterThan(20);
    for (const key of ['window', 'histHigh', 'lowCandidates']) expect(taken[key], key).toBeGreaterThan(5);
  });

  it('the sampled window pass gives the radix passes’ cutoffs, and a window that misses (a misleading sample) falls back to them', () => {
    const taken: Record<string, number> = {};
    const loops = counted(simd, taken);
    let missed = 0;
    fc.assert(
      fc.property(
        fc.constantFrom('ties', 'sparse-task-delta', 'breadcrumbs', 'breadcrumbs-ties'),
        fc.integer({ min: 2000, max: 20_000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 4 }),
        (op, n, seed, density, mislead, lent, P) => {
          // Continuous deltas (few equal magnitudes), so the window applies; misleading: the sampled elements' deltas much larger than the rest.
          const r = xorshift(seed);
          const sampled = new Set(samplePositions(n));
          const make = (fill: (i: number) => number) => {
            const a = lent ? arena.alloc(n) : new Float32Array(n);
            for (let i = 0; i < n; i++) a[i] = fill(i);
            return a;
          };
          const base = make(() => r() / 2 ** 32 - 0.5);
          // 1–4 parents: the sample's walk takes three at once, other counts one by one.
          const xs = Array.from({ length: P }, () => make((i) => base[i] + (r() / 2 ** 32 - 0.5) * (mislead && sampled.has(i) ? 64 : 1)));
          const inputs = [base, ...xs];
          const p = { density, gamma: 0.05, normalize: true };
          const c = { name: 'win', shape: [n], seed: 1 };
          const k = getFastKernel(op);
          const plan = k.reduce!;
          const first = plan.start(inputs, p, c) as { carry: { stage: string; sel: unknown } };
          // Breadcrumbs (two selections per parent) and an empty or full selection take the radix passes directly.
          if (op.startsWith('breadcrumbs')) expect(first.carry.stage).toBe('high');
          if (first.carry.stage !== 'window') return;
          const bounds = [0, Math.floor(n / 3), Math.floor(n / 3) + 5, n];
          withPassLoops(lent ? loops : null, () => {
            const partials = bounds
              .slice(1)
              .map((e, t) => plan.partial(0, first.carry, inputs, p, c, bounds[t], e, { index: t, count: 3 }));
            const after = plan.merge(0, first.carry, partials, [], inputs, p, c);
            if ('carry' in after) {
              expect((after.carry as { stage: string }).stage).toBe('high');
              missed++;
            } else expect(after.params.fastTrimBits).toHaveLength(op.startsWith('breadcrumbs') ? 2 * P : P);
            // A fair sample's window holds the cutoff (4.5 standard deviations of margin).
            if (!mislead) expect('carry' in after).toBe(false);
            // The radix passes alone, from the same selections.
            let step: ReturnType<ReducePlan['start']> = { carry: { stage: 'high', derived: {}, sel: first.carry.sel } };
            for (let pass = 0; 'carry' in step; pass++)
              step = plan.merge(
                pass,
                step.carry,
                [plan.partial(pass, step.carry, inputs, p, c, 0, n, { index: 0, count: 1 })],
                [[0, n]],
                inputs,
                p,
                c,
              );
            const derived = reduceSplit(plan, inputs, p, c, bounds, 2).derived;
            expect(derived).toEqual(step.params);
            const out = make(() => NaN);
            k.run(inputs, out, { ...p, ...derived }, c, 0, n);
            expect(bits(out), op).toEqual(bits(getOperator(op).cpu(inputs, p, c)));
            if (lent) for (const a of [...inputs, out]) arena.free(a);
          });
        },
      ),
      { numRuns: 24, seed: 41 },
    );
    expect(taken.window).toBeGreaterThan(10);
    // Some misleading samples were caught by the merge's counts (and the radix passes gave the cutoffs).
    expect(missed).toBeGreaterThan(5);
  });

  it('prune: the histogram, candidate and pruning passes of the bottom-m cutoff, with ties, ±0 and NaN, over any split', () => {
    const prune = getFastKernel('prune');
    const taken: Record<string, number> = {};
    const loops = counted(simd, taken);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n, seed, fraction) => {
          const [b, x] = withNaN(
            family(n, 1, seed, (m) => arena.alloc(m)),
            seed + 1,
          );
          arena.free(b);
          const p = { fraction };
          const c = { name: 'p', shape: [n], seed: 1 };
          const bounds = [0, Math.floor(n / 3), Math.floor(n / 2) + 1, n];
          const out = arena.alloc(n);
          withPassLoops(loops, () => prune.run([x], out, { ...p, ...reduceSplit(prune.reduce!, [x], p, c, bounds, 2).derived }, c, 0, n));
          expect(bits(out)).toEqual(bits(getOperator('prune').cpu([x], p, c)));
          arena.free(x);
          arena.free(out);
        },
      ),
      { numRuns: 100, seed: 3 },
    );
    for (const key of ['histHigh', 'lowCandidates', 'prune']) expect(taken[key], key).toBeGreaterThan(20);
  });

  it('the window loop lists every lane pattern (its branch-free compaction) in index order, with the counts, over block edges and any bounds', () => {
    const r = xorshift(77);
    // A few magnitudes, so that a window [lo, hi] picks random lanes of every group; bounds also empty (lo > hi), one value, the edges and NaN.
    const steps = [0, 2 ** -20, 0.001, 0.0625, 0.25, 0.5, 1, 3, Infinity, NaN];
    const magBits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0] & 0x7fffffff;
    const bounds = [0, ...steps.map(magBits), 0x7fffffff];
    const masks = new Set<number>();
    for (const [n, start] of [
      [40, 0],
      [16384 + 36, 3],
      [3 * 16384 + 100, 16381],
    ]) {
      for (const Q of [1, 2, 3, 4, 5]) {
        const base = arena.alloc(n);
        for (let i = 0; i < n; i++) base[i] = ((r() % 64) - 32) / 8;
        const xs = Array.from({ length: Q }, () => {
          const x = arena.alloc(n);
          for (let i = 0; i < n; i++) x[i] = base[i] + steps[r() % steps.length] * (r() & 1 ? 1 : -1);
          return x;
        });
        const lo = xs.map(() => bounds[r() % bounds.length]);
        const hi = xs.map((_, q) => (q === 0 ? lo[0] : bounds[r() % bounds.length]));
        const got = simd.window(lo, hi, base, xs, start, n)!;
        const stop = start + ((n - start) & ~3);
        const d = new Float32Array(1);
        const u = new Uint32Array(d.buffer);
        xs.forEach((x, q) => {
          const want: WindowPart = { count: 0, above: 0, below: 0, at: new Uint32Array(0) };
          const at: number[] = [];
          let mask = 0;
          for (let i = start; i < stop; i++) {
            d[0] = x[i] - base[i];
            const m = u[0] & 0x7fffffff;
            if (m > hi[q]) want.above++;
            else if (m < lo[q]) want.below++;
            else {
              at.push(i, m);
              mask |= 1 << ((i - start) & 3);
            }
            if (((i - start) & 3) === 3) {
              masks.add(mask);
              mask = 0;
            }
          }
          want.count = at.length / 2;
          want.at = Uint32Array.from(at);
          expect(got[q], `n ${n} Q ${Q} q ${q} [${lo[q]}, ${hi[q]}]`).toEqual(want);
        });
        for (const a of [base, ...xs]) arena.free(a);
      }
    }
    // Every one of the 16 lane masks of a group occurred.
    expect(masks.size).toBe(16);
  });

  it('the window cutoff is the r-th largest listed magnitude, equal ones lowest index first, across parts and histogram bins', () => {
    const r = xorshift(91);
    let found = 0;
    for (let run = 0; run < 300; run++) {
      const lo = r() % 0x7f000000;
      // Spans of one value, of fewer bins than the histogram's and of many values a bin.
      const span = [0, 5, 1000, 1 << 18, (1 << 24) + 7][run % 5];
      const hi = lo + span;
      // A few distinct magnitudes, so that equal ones abound within a bin and across the parts.
      const values = Array.from({ length: 1 + (r() % 6) }, () => lo + (r() % (span + 1)));
      let index = r() % 100;
      const parts: WindowPart[] = Array.from({ length: 1 + (r() % 3) }, () => {
        const count = r() % 40;
        const at = new Uint32Array(2 * count);
        for (let c = 0; c < count; c++) {
          index += 1 + (r() % 5);
          at[2 * c] = index;
          at[2 * c + 1] = values[r() % values.length];
        }
        return { count, above: r() % 10, below: 0, at };
      });
      const above = parts.reduce((a, p) => a + p.above, 0);
      const listed = parts.flatMap((p) => Array.from({ length: p.count }, (_, c) => [p.at[2 * c], p.at[2 * c + 1]] as const));
      const sorted = [...listed].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      // Histograms of 2¹⁶ bins or fewer (a smaller tensor's), made by the parts (as the workers do) or by the merge.
      const bins = [1 << 16, 64, 1024][run % 3];
      if (run % 2) for (const p of parts) p.hist = windowHistogram(p, lo, hi, bins);
      for (const rank of [0, 1, 2, Math.ceil(listed.length / 2), listed.length, listed.length + 1]) {
        const got = windowCutoff(parts, { k: above + rank }, lo, hi, bins);
        if (rank < 1 || rank > listed.length) expect(got).toBeNull();
        else {
          expect(got, `run ${run} rank ${rank}`).toEqual({ bits: sorted[rank - 1][1], index: sorted[rank - 1][0] + 1 });
          found++;
        }
      }
    }
    expect(found).toBeGreaterThan(1000);
  });

  it('DARE’s L1 lane loop counts the non-zero terms below each threshold exactly, at and next to its edges, zeros and the sign bit aside', () => {
    const r = xorshift(97);
    const n = 3 * 4096 + 13;
    const base = arena.alloc(n);
    const x = arena.alloc(n);
    const d = new Float32Array(1);
    const u = new Uint32Array(d.buffer);
    for (const [fb, fa] of [
      [120, 118],
      [127, 127],
      [1, 200],
      [254, 3],
    ]) {
      // Delta magnitudes at the thresholds' edges (bits (f << 23) − 2 … (f << 23) + 1), zeros, the largest, and random ones.
      const edges = [0, 1, 0x7f7fffff, ...[fb, fa].flatMap((f) => [-2, -1, 0, 1].map((k) => (f << 23) + k))];
      for (let i = 0; i < n; i++) {
        base[i] = (r() % 7) - 3;
        u[0] = (r() % 3 ? edges[r() % edges.length] : r() % 0x7f800000) | (r() & 1 ? 0x80000000 : 0);
        // x = base + delta exactly where the delta is tiny against the base: keep the base 0 then.
        if (Math.abs(d[0]) < 64) base[i] = 0;
        x[i] = base[i] + d[0];
      }
      for (const [sk, drop, offset, start] of [
        [0x9e3779b9 | 0, 0.3, 0, 0],
        [12345, 0.9, (1 << 16) - 5, 3],
      ]) {
        const got = simd.l1Lanes(base, x, sk, drop, offset, fb, fa, start, n)!;
        const stop = start + ((n - start) & ~3);
        let nb = 0,
          na = 0,
          before = 0,
          after = 0;
        const tb = ((fb << 23) - 1) >>> 0,
          ta = ((fa << 23) - 1) >>> 0;
        for (let i = start; i < stop; i++) {
          d[0] = x[i] - base[i];
          const bits = u[0] & 0x7fffffff;
          const a = Math.abs(d[0]);
          before += a;
          if ((bits - 1) >>> 0 < tb) nb++;
          if (unitAt(sk, offset + i) < drop) continue;
          after += a;
          if ((bits - 1) >>> 0 < ta) na++;
        }
        expect([got.nb, got.na], `fb ${fb} fa ${fa} sk ${sk}`).toEqual([[nb], [na]]);
        expect(got.before).toBeCloseTo(before, -Math.log10(Math.max(1, before)) + 6);
        expect(got.after).toBeCloseTo(after, -Math.log10(Math.max(1, after)) + 6);
      }
    }
    arena.free(base);
    arena.free(x);
  });

  it('a part binned in the worker (its list grouped by histogram bins, shared) gives the same cutoff as its list in index order', () => {
    const r = xorshift(93);
    let found = 0;
    for (let run = 0; run < 200; run++) {
      const lo = r() % 0x7f000000;
      // Spans of one value, of a few bins, and of 2¹⁶ bins of many values each (bins in groups of 2⁶).
      const span = [0, 5, 1000, 1 << 18, (1 << 24) + 7, 0x7fffffff - 0x7f000000][run % 6];
      const hi = lo + span;
      const values = Array.from({ length: 1 + (r() % 40) }, () => lo + (r() % (span + 1)));
      let index = r() % 100;
      const bins = [1 << 16, 64, 1024][run % 3];
      const plain: WindowPart[] = Array.from({ length: 1 + (r() % 3) }, () => {
        const count = r() % 300;
        const at = new Uint32Array(2 * count);
        for (let c = 0; c < count; c++) {
          index += 1 + (r() % 5);
          at[2 * c] = index;
          at[2 * c + 1] = values[r() % values.length];
        }
        return { count, above: r() % 10, below: r() % 3, at };
      });
      const binned = plain.map((p) => binWindowPart(p, lo, hi, bins));
      binned.forEach((b, t) => {
        const p = plain[t];
        expect([b.count, b.above, b.below]).toEqual([p.count, p.above, p.below]);
        expect(b.hist).toEqual(windowHistogram(p, lo, hi, bins));
        // The same pairs, each bin's in index order.
        const pairs = (x: WindowPart) => Array.from({ length: x.count }, (_, c) => `${x.at[2 * c]}:${x.at[2 * c + 1]}`);
        expect([...pairs(b)].sort()).toEqual([...pairs(p)].sort());
        for (let c = 1; c < b.count; c++)
          if (b.at[2 * c + 1] === b.at[2 * c - 1]) expect(b.at[2 * c], `run ${run}`).toBeGreaterThan(b.at[2 * c - 2]);
      });
      const above = plain.reduce((a, p) => a + p.above, 0);
      const listed = plain.reduce((a, p) => a + p.count, 0);
      for (const rank of [0, 1, 2, 7, Math.ceil(listed / 3), Math.ceil(listed / 2), listed - 1, listed, listed + 1]) {
        const want = windowCutoff(plain, { k: above + rank }, lo, hi, bins);
        expect(windowCutoff(binned, { k: above + rank }, lo, hi, bins), `run ${run} rank ${rank}`).toEqual(want);
        // Binned and plain parts mixed (a range of either kind).
        expect(windowCutoff([binned[0], ...plain.slice(1)], { k: above + rank }, lo, hi, bins)).toEqual(want);
        if (want) found++;
      }
    }
    expect(found).toBeGreaterThan(1000);
  });

  it('window histograms: about one bin per 256 elements, a power of two in [64, 2¹⁶], and a part with other bins is refused', () => {
    expect(windowBins(1)).toBe(64);
    expect(windowBins(256 * 64)).toBe(64);
    expect(windowBins(256 * 64 + 1)).toBe(128);
    expect(windowBins(1_572_864)).toBe(8192);
    expect(windowBins(24_576_000)).toBe(1 << 16);
    for (let n = 1; n < 2 ** 34; n = n * 3 + 1) {
      const b = windowBins(n);
      expect(Math.log2(b) % 1).toBe(0);
      expect(b).toBeGreaterThanOrEqual(64);
      expect(b).toBeLessThanOrEqual(1 << 16);
    }
    const part: WindowPart = { count: 2, above: 0, below: 0, at: new Uint32Array([3, 1000, 9, 5000]) };
    part.hist = windowHistogram(part, 0, (1 << 20) - 1, 64);
    expect(part.hist.length).toBe(64);
    expect(windowCutoff([part], { k: 1 }, 0, (1 << 20) - 1, 64)).toEqual({ bits: 5000, index: 10 });
    expect(() => windowCutoff([part], { k: 1 }, 0, (1 << 20) - 1, 1024)).toThrow(/other bins/);
  });

  it('the sampled windows are those of each parent’s own sample ranked by the radix select (1–4 parents of different spreads, run and element samples)', () => {
    /** The windows as first made: each parent's sample gathered alone, every rank by pruneThreshold, the window's share by a scan. */
    const reference = (inputs: Float32Array[], k: number) => {
      const n = inputs[0].length;
      const at = samplePositions(n);
      const s = at.length;
      const run = sampleRun(n);
      const lo: number[] = [];
      const hi: number[] = [];
      for (let p = 0; p + 1 < inputs.length; p++) {
        const d = Float32Array.from(at, (i) => inputs[p + 1][i] - inputs[0][i]);
        const v = new Uint32Array(d.buffer);
        const rank = (r: number) => pruneThreshold(d, r + 1).bits;
        const q = (n - k) / n;
        const ps = q * s;
        let spread = s * q * (1 - q);
        if (run > 1) {
          const t = rank(Math.max(0, Math.min(s - 1, Math.round(ps))));
          const runs = s / run;
          let sum = 0,
            sq = 0;
          for (let r = 0; r < runs; r++) {
            let c = 0;
            for (let j = r * run; j < (r + 1) * run; j++) if ((v[j] & 0x7fffffff) <= t) c++;
            sum += c;
            sq += c * c;
          }
          const mean = sum / runs;
          spread = Math.max(spread, (runs * (sq - runs * mean * mean)) / Math.max(1, runs - 1));
        }
        const margin = Math.ceil(4.5 * Math.sqrt(spread)) + 2;
        const a = Math.floor(ps - margin),
          b = Math.ceil(ps + margin);
        const l = a < 0 ? 0 : rank(a);
        const h = b >= s ? 0x7fffffff : rank(b);
        let inside = 0;
        for (let j = 0; j < s; j++) if ((v[j] & 0x7fffffff) >= l && (v[j] & 0x7fffffff) <= h) inside++;
        if (inside > 0.06 * s && (inside / s) * n > 1 << 14) return null;
        lo.push(l);
        hi.push(h);
      }
      return { lo, hi };
    };
    const r = xorshift(404);
    let windows = 0,
      refused = 0;
    for (const n of [3000, 9000, 40_000, (1 << 20) + 48]) {
      for (let P = 1; P <= 5; P++) {
        // P = 5: three parents' deltas on a coarse grid (many equal magnitudes: windows near the share that refuses them).
        const grid = P === 5 ? 2 ** -(3 + (n % 5)) : 0;
        const base = Float32Array.from({ length: n }, () => r() / 2 ** 32 - 0.5);
        // Each parent its own spread (and a run-correlated one), so a parent's window given another's sample differs.
        const xs = Array.from({ length: P }, (_, p) => {
          let scale = 1;
          return Float32Array.from(base, (b, i) => {
            if (p === 1 && i % 16 === 0) scale = 0.25 + r() / 2 ** 32;
            const delta = (r() / 2 ** 32 - 0.5) * 2 ** -p * scale;
            return grid && p < 3 ? b + Math.round(delta / grid) * grid : b + delta;
          });
        });
        const inputs = [base, ...xs];
        for (const density of [0.05, 0.3, 0.9]) {
          const first = getFastKernel('ties').reduce!.start(inputs, { density }, { name: 'w', shape: [n], seed: 1 }) as {
            carry: { stage: string; lo?: number[]; hi?: number[] };
          };
          const want = reference(inputs, Math.floor(density * n));
          if (!want) {
            expect(first.carry.stage).toBe('high');
            refused++;
          } else {
            expect(first.carry.stage).toBe('window');
            expect({ lo: first.carry.lo, hi: first.carry.hi }, `n ${n} P ${P} density ${density}`).toEqual(want);
            windows++;
          }
        }
      }
    }
    expect(windows).toBeGreaterThan(40);
    expect(refused).toBeGreaterThan(0);
  });

  it('a large tensor is sampled in cache-line runs, and a run-correlated delta (each run one scale) still gets a window that holds its cutoff', () => {
    const n = 1 << 20;
    expect(sampleRun(n)).toBe(16);
    expect(sampleRun(n - 1)).toBe(1);
    const at = samplePositions(n);
    expect(at.length).toBe(65536);
    for (let j = 0; j < at.length; j++) {
      expect(at[j]).toBeLessThan(n);
      if (j % 16) expect(at[j]).toBe(at[j - 1] + 1);
      else expect(at[j] % 16).toBe(0);
      if (j) expect(at[j]).toBeGreaterThan(at[j - 1]);
    }
    let windows = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = xorshift(seed);
      // Each aligned run of 16 elements shares one continuous magnitude (a row's scale): the sample's runs are 16 alike elements, not 16 independent ones.
      const base = arena.alloc(n);
      const xs = [0, 1, 2].map(() => {
        const x = arena.alloc(n);
        let scale = 0;
        for (let i = 0; i < n; i++) {
          if (i % 16 === 0) scale = (r() / 2 ** 32) * (r() & 1 ? 1 : -1);
          x[i] = scale * (1 + (r() % 1024) * 2 ** -20);
        }
        return x;
      });
      const inputs = [base, ...xs];
      const p = { density: 0.2, normalize: true };
      const c = { name: 'runs', shape: [n], seed: 1 };
      const plan = getFastKernel('ties').reduce!;
      withPassLoops(simd, () => {
        const first = plan.start(inputs, p, c) as { carry: { stage: string } };
        if (first.carry.stage !== 'window') return;
        windows++;
        const after = plan.merge(
          0,
          first.carry,
          [plan.partial(0, first.carry, inputs, p, c, 0, n, { index: 0, count: 1 })],
          [[0, n]],
          inputs,
          p,
          c,
        );
        // The margin counts the runs' spread: the window holds every parent's cutoff (no fallback to the radix passes).
        expect('carry' in after, `seed ${seed}`).toBe(false);
      });
      for (const a of inputs) arena.free(a);
    }
    expect(windows).toBeGreaterThanOrEqual(4);
  });

  it('a cutoff as one threshold where no index falls in the range: the same kept set as the cutoff’s rule, at every edge', () => {
    // Magnitudes at and around the edges (0, the largest NaN) and around each cutoff's bits; cutoffs include KEEP_NONE's 0x80000000.
    const edges = [0, 1, 2, 0x3f7ffffe, 0x3f7fffff, 0x3f800000, 0x3f800001, 0x7f800000, 0x7ffffffe, 0x7fffffff];
    const cutBits = [...edges, 0x80000000];
    const [s, e] = [100, 200];
    let checked = 0;
    for (const top of [true, false])
      for (const b of cutBits)
        for (const i of [0, 99, 100, 101, 150, 199, 200, 201, 1000]) {
          const t = simpleThresholds(top, [b], [i], s, e);
          // An index inside the range (s < i < e) needs the index test.
          if (i > s && i < e) {
            expect(t).toBeNull();
            continue;
          }
          expect(t).not.toBeNull();
          for (const m of [...edges, Math.max(0, b - 1), Math.min(0x7fffffff, b), Math.min(0x7fffffff, b + 1)])
            for (const at of [s, s + 1, e - 1]) {
              const rule = top ? isKept(m, at, { bits: b, index: i }) : !isPruned(m, at, { bits: b, index: i });
              expect(m > t![0], `top ${top} bits ${b.toString(16)} index ${i} mag ${m.toString(16)} at ${at}`).toBe(rule);
              checked++;
            }
        }
    expect(checked).toBeGreaterThan(2000);
    // One cutoff inside the range makes the whole range take the index test.
    expect(simpleThresholds(true, [5, 7], [0, 150], s, e)).toBeNull();
    expect(simpleThresholds(true, [5, 7], [0, 300], s, e)).toEqual([5, 6]);
  });

  it('tensors of several loop calls, with equal magnitudes at the cutoffs placed inside a call and on its edges, give the reference bits and counts', () => {
    // 65 536 elements per call of the element-wise loop: three calls and a tail, on a coarse grid so that many magnitudes equal each cutoff.
    const n = 3 * 65536 + 37;
    const taken: Record<string, number> = {};
    const loops = counted(simd, taken);
    let inside = 0;
    for (const [op, p, seed] of [
      ['ties', { density: 0.2, normalize: true }, 3],
      ['ties', { density: 0.37, normalize: false, weights: [0.5, 1, 0.25], lambda: 0.7 }, 5],
      ['sparse-task-delta', { density: 0.5 }, 7],
      ['sparse-task-delta', { density: 0.11, weights: [1, -0.5] }, 9],
      ['breadcrumbs', { density: 0.8, gamma: 0.05 }, 11],
      ['breadcrumbs-ties', { density: 0.6, gamma: 0.15 }, 13],
    ] as [string, ParamValues, number][]) {
      const P = Array.isArray(p.weights) ? p.weights.length : 3;
      const inputs = family(n, P, seed, (m) => arena.alloc(m));
      const ctx = { name: `calls.${seed}`, shape: [n], seed: 1 };
      const k = getFastKernel(op);
      const refStats: Record<string, number> = {};
      const ref = getOperator(op).cpu(inputs, p, { ...ctx, stats: refStats });
      withPassLoops(loops, () => {
        const derived = reduceSplit(k.reduce!, inputs, p, ctx, [0, 65536 + 5000, n], 2).derived;
        const index = derived.fastTrimIndex as number[];
        // The cutoffs' indices fall inside a call (the index test runs there) as well as outside (one threshold).
        inside += index.filter((i) => i % 65536 !== 0 && i < n).length;
        for (const bounds of [
          [0, n],
          [0, 65536 + 5000, n],
          [0, 12345, 2 * 65536 + 4, n],
        ])
          expectRanges(k, inputs, { ...p, ...derived }, ctx, bounds, ref, refStats, (m) => arena.alloc(m));
      });
      for (const a of inputs) arena.free(a);
    }
    expect(inside).toBeGreaterThan(6);
    expect(taken.apply).toBeGreaterThanOrEqual(6 * 6);
  });

  it('the random drop folds its draws per run of 2¹⁶ indices: chunks at any offset (runs cut inside a vector, indices past 2³²) give the reference bits and counts', () => {
    const n = 2 * 65536 + 37;
    const taken: Record<string, number> = {};
    const loops = counted(simd, taken);
    let runs = 0;
    for (const [op, p, offset, seed] of [
      ['dare', { drop: 0.5, rescale: 'none' }, 65536 - 6, 3],
      ['dare', { drop: 0.3, rescale: 'l1', weights: [1, 0.5, 2] }, 1, 5],
      ['dare-ties', { drop: 0.7, rescale: 'inverse', normalize: true }, 3 * 65536 + 2, 7],
      ['dare-ties', { drop: 0.5, rescale: 'none' }, 2 ** 32 - 65536 - 3, 9],
      ['dare', { drop: 0.9, rescale: 'none' }, 2 ** 33 + 65533, 11],
    ] as [string, ParamValues, number, number][]) {
      const P = Array.isArray(p.weights) ? p.weights.length : 3;
      const inputs = family(n, P, seed, (m) => arena.alloc(m));
      const ctx = { name: `runs.${seed}`, shape: [n], seed: 1, offset };
      // Every run boundary the chunk crosses, and the vector straddling it where the offset is not a multiple of 4.
      runs += Math.floor((offset + n) / 65536) - Math.floor(offset / 65536);
      const k = getFastKernel(op);
      const refStats: Record<string, number> = {};
      const ref = getOperator(op).cpu(inputs, p, { ...ctx, stats: refStats });
      withPassLoops(loops, () => {
        const derived = reduceSplit(k.reduce!, inputs, p, ctx, [0, 65536 + 5000, n], 2).derived;
        for (const bounds of [
          [0, n],
          [0, 4097, 65536 + 5, n],
        ])
          expectRanges(k, inputs, { ...p, ...derived }, ctx, bounds, ref, refStats, (m) => arena.alloc(m));
      });
      for (const a of inputs) arena.free(a);
    }
    expect(runs).toBeGreaterThanOrEqual(8);
    expect(taken.apply).toBeGreaterThanOrEqual(10);
  });

  it('DARE’s L1 lane pre-pass folds its draws per run of 2¹⁶ indices (a run cut inside a vector): certified sums that give the reference, 1 to 5 parents', () => {
    const n = 70_000;
    for (const P of [1, 3, 4, 5]) {
      const taken: Record<string, number> = {};
      const loops = counted(simd, taken);
      // Finite continuous deltas, so that the lane sums are certified (no ordered pass by parent decides the norms).
      const r = xorshift(60 + P);
      const inputs = Array.from({ length: P + 1 }, () => arena.alloc(n));
      for (let i = 0; i < n; i++) {
        inputs[0][i] = r() / 2 ** 32 - 0.5;
        for (let q = 1; q <= P; q++) inputs[q][i] = inputs[0][i] + (r() / 2 ** 32 - 0.5) * 2 ** ((r() % 8) - 4);
      }
      const ctx = { name: `l1.${P}`, shape: [n], seed: 2, offset: 65536 - 3 };
      for (const op of ['dare', 'dare-ties']) {
        const p = { drop: 0.4, rescale: 'l1' };
        const refStats: Record<string, number> = {};
        const ref = getOperator(op).cpu(inputs, p, { ...ctx, stats: refStats });
        const k = getFastKernel(op);
        withPassLoops(loops, () =>
          expectRanges(
            k,
            inputs,
            { ...p, ...reduceSplit(k.reduce!, inputs, p, ctx, [0, 3001, n], 2).derived },
            ctx,
            [0, n],
            ref,
            refStats,
            (m) => arena.alloc(m),
          ),
        );
      }
      expect(taken.l1Lanes, `${P} parents`).toBeGreaterThan(0);
      expect(taken.l1Random, 'the ordered pass').toBeUndefined();
      for (const a of inputs) arena.free(a);
    }
  });

  it('the random drop at a draw exactly on the drop probability keeps it (unitAt < drop drops), with the other draws either side', () => {
    const n = 4096;
    let edges = 0;
    for (const [op, offset] of [
      ['dare', 0],
      ['dare-ties', 65536 - 1000],
    ] as const) {
      const inputs = family(n, 3, 17, (m) => arena.alloc(m));
      const ctx = { name: `edge.${op}`, shape: [n], seed: 3, offset };
      const sk = streamKey(tensorKey(ctx.seed, ctx.name), 0);
      // drop = parent 0's draw at a few elements, exactly (a multiple of 2⁻²⁴ is a float32), and one ulp of the draws above it.
      for (const at of [0, 5, 1234, 4095])
        for (const up of [0, 1]) {
          const drop = unitAt(sk, offset + at) + up * 2 ** -24;
          const p = { drop, rescale: 'none' };
          const refStats: Record<string, number> = {};
          const ref = getOperator(op).cpu(inputs, p, { ...ctx, stats: refStats });
          withPassLoops(simd, () => expectRanges(getFastKernel(op), inputs, p, ctx, [0, 1000, n], ref, refStats, (m) => arena.alloc(m)));
          edges++;
        }
      for (const a of inputs) arena.free(a);
    }
    expect(edges).toBe(16);
  });

  it('the comparison catches planted bugs: an off-by-one at the cutoff (index or magnitude), the parents’ drop streams swapped, the L1 norm after the drop taken without it', () => {
    // The tie data of the cutoff test above: the kept run must stop exactly at the cutoff's index.
    const n = 1000;
    const inArena = (fill: (i: number) => number) => {
      const a = arena.alloc(n);
      for (let i = 0; i < n; i++) a[i] = fill(i);
      return a;
    };
    const base = inArena((i) => (i % 32) / 8 - 2);
    const inputs = [base, inArena((i) => base[i] + (i % 4 < 2 ? 0.25 : 0)), inArena((i) => base[i] + (i % 4 < 2 ? -0.25 : 0.5 + i / 4096))];
    const planted: Record<string, PassLoops> = {
      index: { ...simd, apply: (spec, ...rest) => simd.apply({ ...spec, index: spec.index.map((i) => i + 1) }, ...rest) },
      bits: { ...simd, apply: (spec, ...rest) => simd.apply({ ...spec, bits: spec.bits.map((b) => b + 1) }, ...rest) },
      streams: { ...simd, apply: (spec, ...rest) => simd.apply({ ...spec, sk: [...spec.sk].reverse() }, ...rest) },
      l1: {
        ...simd,
        l1Lanes: (...args) => {
          const r = simd.l1Lanes(...args);
          return r && { ...r, after: r.before, na: r.nb };
        },
      },
      // The ordered sums by parent, where the lane sums cannot be certified (here: never).
      l1Ordered: {
        ...simd,
        l1Lanes: (...args) => {
          const r = simd.l1Lanes(...args);
          return r && { ...r, before: NaN };
        },
        l1Random: (...args) => {
          const r = simd.l1Random(...args);
          return r && r.map(([before]): [number, number] => [before, before]);
        },
      },
    };
    const run = (op: string, p: ParamValues, loops: PassLoops) => {
      const c = { name: 't', shape: [n], seed: 1 };
      const k = getFastKernel(op);
      const out = arena.alloc(n);
      withPassLoops(loops, () => k.run(inputs, out, { ...p, ...reduceLocally(k.reduce!, inputs, p, c) }, c, 0, n));
      const r = [bits(out), bits(getOperator(op).cpu(inputs, p, c))];
      arena.free(out);
      return r;
    };
    for (const [op, p, bug] of [
      ['ties', { density: 0.101, normalize: true }, 'index'],
      ['sparse-task-delta', { density: 0.101 }, 'index'],
      ['breadcrumbs-ties', { density: 0.6, gamma: 0.15 }, 'bits'],
      ['dare', { drop: 0.5, rescale: 'l1' }, 'streams'],
      ['dare-ties', { drop: 0.3, rescale: 'l1' }, 'l1'],
      ['dare', { drop: 0.3, rescale: 'l1' }, 'l1Ordered'],
    ] as const) {
      const [good, ref] = run(op, p, simd);
      expect(good, op).toEqual(ref);
      const [bad] = run(op, p, planted[bug]);
      expect(bad, `${op} with the planted ${bug} bug`).not.toEqual(ref);
    }
    // Lane sums that cannot be certified (NaN): the ordered sums by parent give the reference's bits.
    const uncertain: PassLoops = {
      ...simd,
      l1Lanes: (...args) => {
        const r = simd.l1Lanes(...args);
        return r && { ...r, before: NaN };
      },
    };
    for (const [op, p] of [
      ['dare', { drop: 0.3, rescale: 'l1' }],
      ['dare-ties', { drop: 0.6, rescale: 'l1' }],
    ] as const) {
      const [out, ref] = run(op, p, uncertain);
      expect(out, op).toEqual(ref);
    }
    for (const a of inputs) arena.free(a);
  });
});

describe('the certified L1 sums (l1Interval, certifiedNorms)', () => {
  it('hold the ordered float64 sum of float32 terms, summed in lanes in any order, over wide ranges of magnitude', () => {
    let certified = 0;
    fc.assert(
      fc.property(
        // Terms spread over many binades (deltas near zero have low bits far below the sum's), zeros among them.
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 23 - 1 }), fc.integer({ min: -70, max: 4 }), fc.boolean()), {
          minLength: 1,
          maxLength: 600,
        }),
        fc.integer({ min: 1, max: 8 }),
        (raw, chains) => {
          const a = Float32Array.from(raw, ([m, e, zero]) => (zero ? 0 : Math.fround((1 + m / 2 ** 23) * 2 ** e)));
          let ordered = 0;
          for (const x of a) ordered += x;
          const lanes = new Array<number>(chains).fill(0);
          a.forEach((x, j) => (lanes[j % chains] += x));
          let s = 0;
          for (const l of lanes) s += l;
          const e = s > 0 ? Math.floor(Math.log2(s)) : -1100;
          const f0 = Math.max(1, Math.min(253, e - 1 + 98));
          const bits = new Uint32Array(a.buffer);
          const counts = [0, 1, 2].map((t) => bits.filter((b) => b !== 0 && b < (f0 + t) << 23).length);
          const r = l1Interval(s, counts, f0, chains, chains);
          if (r) {
            certified++;
            expect(ordered >= r[0] && ordered <= r[1], `${ordered} in [${r[0]}, ${r[1]}]`).toBe(true);
          }
        },
      ),
      { numRuns: 400, seed: 5 },
    );
    expect(certified).toBeGreaterThan(300);
  });

  it('certify a rescale only where every sum in the intervals gives the same float32 factor and the same eps decisions', () => {
    expect(certifiedNorms([2, 2], [1, 1])).toEqual([2, 1]);
    // fround(2 / 1) against fround(2 / (1 + 2⁻²⁰)): the intervals leave the factor open.
    expect(certifiedNorms([2, 2], [1, 1 + 2 ** -20])).toBeNull();
    expect(certifiedNorms([2, 2 + 2 ** -40], [1, 1 + 2 ** -40])).toEqual([2, 1 + 2 ** -40]);
    // Below eps = 1e-7 on one side of the interval only: open; wholly below: no rescale.
    expect(certifiedNorms([0.9e-7, 1.1e-7], [1, 1])).toBeNull();
    expect(certifiedNorms([0, 0.5e-7], [1, 1])).toEqual([0, 1]);
    expect(certifiedNorms([1, 1], [0, 0.5e-7])).toEqual([1, 0]);
    // An interval of the sum that cannot be placed below 2^(e+1) for any threshold: none.
    expect(l1Interval(2 ** 40, [0, 0, 0], 60, 4, 4)).toBeNull();
    expect(l1Interval(NaN, [0, 0, 0], 100, 4, 4)).toBeNull();
    expect(l1Interval(0, [0, 0, 0], 100, 4, 4)).toEqual([0, 0]);
  });
});
