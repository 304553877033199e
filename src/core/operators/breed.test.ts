import { describe, expect, it } from 'vitest';
import { breed, BreedCancelled, BREED_STREAM_ELEMENTS, type BreedProgress } from './breed.ts';
import { cpuBackend, type KernelBackend } from './backend.ts';
import { listOperators, getOperator, STATISTICS_FOR } from './registry.ts';
import { QUANT_KEYS } from './quantize.cpu.ts';
import { randomModel } from './test-data.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';
import type { ParamValues } from './types.ts';

const models = [randomModel(1), randomModel(2), randomModel(3)];
const zeros = (m: Tensor[]) => m.map((t) => fromFloat32(t.name, t.shape, new Float32Array(toFloat32(t).length)));

function parentsFor(id: string): Tensor[][] {
  const op = getOperator(id);
  // A layout operator (passthrough) takes one parent without its layer slices.
  const n = op.layout ? 1 : Math.max(op.parents.min, Math.min(2, op.parents.max));
  return models.slice(0, n + (op.needsBase ? 1 : 0));
}

describe('breed', () => {
  it('runs every operator over a whole model, deterministically, with progress and per-tensor stats', async () => {
    // The data-informed merges need calibration statistics (statistics.test.ts breeds them).
    for (const op of listOperators().filter((o) => !(o.id in STATISTICS_FOR))) {
      const events: BreedProgress[] = [];
      // TIES's default density (0.2) keeps nothing of the 3-element bias, which is refused as mergekit does.
      const req = {
        operator: op.id,
        params: (op.id === 'ties' ? { density: 0.4 } : {}) as ParamValues,
        seed: 42,
        parents: parentsFor(op.id),
      };
      const a = await breed(req, cpuBackend, (p) => events.push(p));
      const b = await breed(req, cpuBackend);
      expect(a.tensors.map((t) => t.data)).toEqual(b.tensors.map((t) => t.data));
      expect(a.stats.map((s) => s.outputHash)).toEqual(b.stats.map((s) => s.outputHash));
      expect(events.map((e) => e.tensor)).toEqual([1, 2, 3, 4]);
      expect(events[3].bytesDone).toBe(events[3].bytesTotal);
      expect(a.operator).toEqual({ id: op.id, version: op.version });
      expect(a.backend.kind).toBe('cpu');
      for (const s of a.stats) {
        expect(s.outputHash).toMatch(/^[0-9a-f]{64}$/);
        expect(s.changedFraction).toBeGreaterThanOrEqual(0);
        expect(s.sparsity).toBeLessThanOrEqual(1);
      }
    }
  });

  it('seeded operators give other bytes under another seed', async () => {
    for (const id of ['dare', 'dare-ties', 'crossover', 'mutate']) {
      const a = await breed({ operator: id, params: {}, seed: 1, parents: parentsFor(id) }, cpuBackend);
      const b = await breed({ operator: id, params: {}, seed: 2, parents: parentsFor(id) }, cpuBackend);
      expect(a.stats[0].outputHash, id).not.toBe(b.stats[0].outputHash);
    }
  });

  it('quantize stores matrices as .q + .scales, copies biases with a reason, and records the block size', async () => {
    const r = await breed({ operator: 'quantize', params: { scheme: 'int4', blockSize: 4 }, seed: 0, parents: [models[0]] }, cpuBackend);
    expect(r.tensors.map((t) => `${t.name}:${t.dtype}`)).toEqual([
      'fc1.weight.q:I4',
      'fc1.weight.scales:F32',
      'fc1.bias:F32',
      'fc2.weight.q:I4',
      'fc2.weight.scales:F32',
      'fc2.bias:F32',
    ]);
    expect(r.stats.map((s) => s.skipped ?? null)).toEqual([null, expect.stringMatching(/1-D/), null, expect.stringMatching(/1-D/)]);
    expect(r.metadata).toEqual({ [QUANT_KEYS.scheme]: 'int4', [QUANT_KEYS.blockSize]: '4' });
    expect(r.stats[0].bytes).toBe((12 * 8) / 2 + 12 * 2 * 4);
  });

  it('keeps the parents’ dtype: F16 parents give an F16 child', async () => {
    const half = models.slice(0, 2).map((m) => m.map((t) => fromFloat32(t.name, t.shape, toFloat32(t), 'F16')));
    const r = await breed({ operator: 'blend', params: {}, seed: 0, parents: half }, cpuBackend);
    expect(r.tensors.map((t) => t.dtype)).toEqual(['F16', 'F16', 'F16', 'F16']);
    const a = toFloat32(half[0][0]);
    const b = toFloat32(half[1][0]);
    toFloat32(r.tensors[0]).forEach((v, i) => expect(Math.abs(v - (a[i] + b[i]) / 2)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -10 + 1e-7));
  });

  it('passes non-float tensors through unchanged', async () => {
    const withIds = models.map((m) => [...m, fromFloat32('ids', [4], Float32Array.from([1, 2, 3, 4]), 'I8')]);
    const r = await breed({ operator: 'blend', params: {}, seed: 0, parents: withIds.slice(0, 2) }, cpuBackend);
    const ids = r.tensors.find((t) => t.name === 'ids')!;
    expect(ids).toBe(withIds[0][4]);
    expect(r.stats[4].skipped).toMatch(/not a float tensor \(I8\)/);
  });

  it('model-wide trimming keeps exactly int(density × all elements) over the model', async () => {
    const base = zeros(models[0]);
    const total = models[0].reduce((s, t) => s + toFloat32(t).length, 0);
    const r = await breed(
      { operator: 'sparse-task-delta', params: { density: 0.3, trimScope: 'model' }, seed: 0, parents: [base, models[1]] },
      cpuBackend,
    );
    const nonzero = r.tensors.reduce((s, t) => s + toFloat32(t).reduce((c, v) => c + (v !== 0 ? 1 : 0), 0), 0);
    expect(nonzero).toBe(Math.floor(0.3 * total));
    // the per-tensor counts differ from per-tensor trimming
    const perTensor = await breed(
      { operator: 'sparse-task-delta', params: { density: 0.35 }, seed: 0, parents: [base, models[1]] },
      cpuBackend,
    );
    expect(perTensor.stats.map((s) => s.sparsity)).not.toEqual(r.stats.map((s) => s.sparsity));
    const ties = await breed({ operator: 'ties', params: { density: 0.5, trimScope: 'model' }, seed: 0, parents: models }, cpuBackend);
    expect(ties.stats.every((s) => typeof s.signConflicts === 'number')).toBe(true);
  });

  it('update-wide clipping bounds the norm of the whole update', async () => {
    const base = models[0];
    const r = await breed({ operator: 'federated', params: { clipNorm: 0.1 }, seed: 0, parents: [base, models[1]] }, cpuBackend);
    const norm = Math.hypot(...r.stats.map((s) => s.deltaNorm));
    expect(norm).toBeLessThanOrEqual(0.1 * (1 + 1e-5));
    expect(norm).toBeGreaterThan(0.099);
  });

  it('resolves a layer gradient per tensor: slerp t = [0, 1] keeps fc1 from parent 0, takes fc2 from parent 1', async () => {
    const r = await breed({ operator: 'slerp', params: { t: [0, 1] }, seed: 0, parents: [models[0], models[1]] }, cpuBackend);
    expect(r.tensors[0].data).toEqual(models[0][0].data);
    const fc2 = toFloat32(r.tensors[2]);
    toFloat32(models[1][2]).forEach((v, i) => expect(fc2[i]).toBeCloseTo(v, 5));
  });

  it('can be cancelled between tensors', async () => {
    const signal = { aborted: false };
    await expect(
      breed(
        { operator: 'blend', params: {}, seed: 0, parents: [models[0], models[1]] },
        cpuBackend,
        (p) => (signal.aborted = p.tensor === 2),
        signal,
      ),
    ).rejects.toBeInstanceOf(BreedCancelled);
  });

  it('refuses mismatched parents and wrong parent counts with the tensor or count named', async () => {
    const bad = models[1].map((t) => (t.name === 'fc2.bias' ? fromFloat32('fc2.bias', [1, 3], toFloat32(t)) : t));
    await expect(breed({ operator: 'blend', params: {}, seed: 0, parents: [models[0], bad] }, cpuBackend)).rejects.toThrow(
      /tensor "fc2.bias": parent 1 has shape \[1,3\], parent 0 has \[3\]/,
    );
    await expect(breed({ operator: 'slerp', params: {}, seed: 0, parents: models }, cpuBackend)).rejects.toThrow(
      /slerp takes 2..2 parents, got 3/,
    );
    await expect(breed({ operator: 'ties', params: {}, seed: -1, parents: models }, cpuBackend)).rejects.toThrow(/seed -1/);
  });
});

/**
 * A CPU backend with runStream, for breed's streaming path: it reads the source in uneven
 * ranges (never as one array), runs the CPU reference, and hands the output to the sink in
 * uneven chunks in order. The GPU's runStream is checked the same way in e2e/kernels.spec.ts.
 */
function chunkedCpuBackend(piece: number, log: string[]): KernelBackend {
  return {
    ...cpuBackend,
    async runStream(op, source, params, ctx, sink) {
      log.push(ctx.name);
      const inputs = await Promise.all(
        Array.from({ length: source.parents }, async (_, p) => {
          const x = new Float32Array(source.length);
          for (let o = 0; o < source.length; o += piece) x.set(await source.read(p, o, Math.min(piece, source.length - o)), o);
          return x;
        }),
      );
      const out = op.cpu(inputs, params, ctx);
      if (!sink) return out;
      for (let o = 0, k = 0; o < out.length; k++) {
        const len = Math.min(out.length - o, piece + (k % 3) * 5);
        await sink(o, out.slice(o, o + len));
        o += len;
      }
      return null;
    },
  };
}

describe('breed streams large tensors through runStream', () => {
  const withoutMs = (r: Awaited<ReturnType<typeof breed>>) => r.stats.map(({ ms: _ms, ...s }) => s);
  it('gives the same bytes and statistics as the whole-tensor breed, for every operator and float dtype', async () => {
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const parents3 = [4, 5, 6].map((s) => randomModel(s, 40, 24, 7).map((t) => fromFloat32(t.name, t.shape, toFloat32(t), dtype)));
      for (const op of listOperators().filter((o) => !(o.id in STATISTICS_FOR))) {
        const n = (op.layout ? 1 : Math.max(op.parents.min, Math.min(2, op.parents.max))) + (op.needsBase ? 1 : 0);
        const req = { operator: op.id, params: {}, seed: 9, parents: parents3.slice(0, n) };
        const log: string[] = [];
        const whole = await breed(req, cpuBackend);
        const streamed = await breed(req, chunkedCpuBackend(37, log), undefined, undefined, { streamAbove: 100 });
        expect(
          streamed.tensors.map((t) => [t.name, t.dtype, t.data]),
          `${op.id} ${dtype}`,
        ).toEqual(whole.tensors.map((t) => [t.name, t.dtype, t.data]));
        expect(withoutMs(streamed), `${op.id} ${dtype}`).toEqual(withoutMs(whole));
        // Only tensors above the threshold stream (fc1.weight 960, fc2.weight 168; biases 24, 7),
        // never one the operator skips or stores itself (quantize).
        const expected = op.store
          ? []
          : ['fc1.weight', 'fc2.weight'].filter((name) => whole.stats.find((s) => s.name === name)!.skipped === undefined);
        expect(log, `${op.id} ${dtype}`).toEqual(expected);
      }
    }
  });

  it('a backend without runStream, or a threshold above every tensor, runs whole tensors', async () => {
    const log: string[] = [];
    const req = { operator: 'blend', params: {}, seed: 1, parents: [models[0], models[1]] };
    const a = await breed(req, chunkedCpuBackend(5, log), undefined, undefined, { streamAbove: Infinity });
    const b = await breed(req, chunkedCpuBackend(5, log));
    expect(log).toEqual([]);
    expect(a.stats.map((s) => s.outputHash)).toEqual(b.stats.map((s) => s.outputHash));
    expect(BREED_STREAM_ELEMENTS).toBe(1 << 22);
  });

  it('refuses a stream that leaves out or reorders chunks', async () => {
    const broken: KernelBackend = {
      ...cpuBackend,
      async runStream(op, source, params, ctx, sink) {
        const inputs = await Promise.all(Array.from({ length: source.parents }, (_, p) => source.read(p, 0, source.length)));
        const out = op.cpu(inputs, params, ctx);
        await sink!(1, out.subarray(1));
        return null;
      },
    };
    const req = { operator: 'blend', params: {}, seed: 1, parents: [models[0], models[1]] };
    await expect(breed(req, broken, undefined, undefined, { streamAbove: 0 })).rejects.toThrow(
      /blend on "fc1\.weight": chunk of 95 at 1, expected the next at 0/,
    );
  });
});
