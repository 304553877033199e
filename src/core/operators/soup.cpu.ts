/**
 * Parent-pool soups (Wortsman et al., 2022).
 *  - uniform: every parent weighs 1/N;
 *  - weighted: the `weights` parameter (fitness or any score), divided by their sum;
 *  - seeded: wᵢ = randomUnit(tensorKey(seed, "soup"), i, 0), divided by their sum — the same
 *    weights for every tensor of the model (equal weights if they all draw 0).
 * Each tensor is then a blend (blend.cpu.ts) with those weights.
 * The greedy soup needs an evaluation of whole models, so it is a model-level helper
 * (`greedySoup`), not a per-tensor operator.
 */
import { blendCpu, blendWeights } from './blend.cpu.ts';
import { randomUnit, tensorKey } from './prng.ts';
import { weightsOf } from './params.ts';
import type { BlendWeights, ParamValues, TensorContext } from './types.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';

export const SOUP_MODES = Object.freeze(['uniform', 'weighted', 'seeded'] as const);
export type SoupMode = (typeof SOUP_MODES)[number];

export function soupWeights(params: ParamValues, parents: number, seed: number): number[] {
  const mode = String(params.mode ?? 'uniform');
  switch (mode) {
    case 'uniform':
      return new Array<number>(parents).fill(1);
    case 'weighted':
      return weightsOf(params, 'weights', parents, 1);
    case 'seeded': {
      const key = tensorKey(seed, 'soup');
      const w = Array.from({ length: parents }, (_, i) => randomUnit(key, i, 0));
      return w.some((x) => x > 0) ? w : new Array<number>(parents).fill(1);
    }
    default:
      throw new Error(`soup: mode "${mode}"; valid: ${SOUP_MODES.join(', ')}`);
  }
}

/** The weights and divisor a soup blends with (what the blend kernel multiplies and divides by). */
export function soupBlendWeights(params: ParamValues, parents: number, seed: number): BlendWeights {
  return blendWeights({ weights: soupWeights(params, parents, seed), normalize: true }, parents);
}

export function soupCpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array {
  return blendCpu(inputs, { weights: soupWeights(params, inputs.length, ctx.seed), normalize: true });
}

/** The uniform average of whole models (tensors matched by name; non-float tensors from the first). */
export function averageModels(models: readonly (readonly Tensor[])[]): Tensor[] {
  const byName = models.map((m) => new Map(m.map((t) => [t.name, t])));
  return models[0].map((ref) => {
    if (!['F32', 'F16', 'BF16'].includes(ref.dtype)) return ref;
    const inputs = byName.map((m, p) => {
      const t = m.get(ref.name);
      if (!t) throw new Error(`soup: model ${p} has no tensor "${ref.name}"`);
      return toFloat32(t);
    });
    return fromFloat32(ref.name, ref.shape, blendCpu(inputs, { normalize: true }), ref.dtype);
  });
}

export interface GreedySoupResult {
  /** Indices (into the candidates) of the models in the soup, in the order they joined. */
  members: number[];
  score: number;
  tensors: Tensor[];
  /** Every trial: which candidate was tried, the score of the soup with it, whether it stayed. */
  trials: { candidate: number; score: number; kept: boolean }[];
}

/**
 * Greedy soup: order candidates by fitness (higher first, ties by lower index), start from the
 * best, and add each next candidate when the uniform average with it scores at least as well
 * (`evaluate` returns higher-is-better on a held-out suite).
 */
export async function greedySoup(
  candidates: readonly (readonly Tensor[])[],
  fitness: readonly number[],
  evaluate: (tensors: Tensor[]) => Promise<number> | number,
): Promise<GreedySoupResult> {
  if (candidates.length === 0) throw new Error('greedy soup: no candidates');
  if (fitness.length !== candidates.length)
    throw new Error(`greedy soup: ${fitness.length} fitness values for ${candidates.length} candidates`);
  const order = candidates.map((_, i) => i).sort((a, b) => fitness[b] - fitness[a] || a - b);
  const members = [order[0]];
  let tensors = [...candidates[order[0]]];
  let score = await evaluate(tensors);
  const trials = [{ candidate: order[0], score, kept: true }];
  for (const c of order.slice(1)) {
    const trial = averageModels([...members, c].map((i) => candidates[i]));
    const s = await evaluate(trial);
    const kept = s >= score;
    trials.push({ candidate: c, score: s, kept });
    if (kept) {
      members.push(c);
      tensors = trial;
      score = s;
    }
  }
  return { members, score, tensors, trials };
}
