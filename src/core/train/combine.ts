/**
 * Combining LoRA adapters as PEFT's LoraModel.add_weighted_adapter does (peft/tuners/lora/model.py,
 * peft/utils/merge_utils.py), module by module:
 *   cat                 A = [w₁s₁A₁; w₂s₂A₂; …] (rows), B = [B₁ B₂ …] (columns); r = Σ rᵢ
 *   linear, ties, dare_linear, dare_ties, magnitude_prune
 *                       the merge function run on the A's with weights sign(wᵢsᵢ)·√|wᵢsᵢ| and on
 *                       the B's with √|wᵢsᵢ| (A and B separately; all ranks equal)
 *   svd, ties_svd, dare_linear_svd, dare_ties_svd, magnitude_prune_svd
 *                       the merge function on the full deltas ΔWᵢ = sᵢ·BᵢAᵢ with weights wᵢ
 *                       (sᵢ once: PEFT 0.21's get_delta_weight carries it; PEFT before it
 *                       weighted by wᵢsᵢ as well, so sᵢ entered twice), then a rank-r SVD:
 *                       B = U·S, A = Vᵀ; r = svd_rank or the largest rank
 * where sᵢ = alpha/r of adapter i. The new adapter has lora_alpha = r (scaling 1), as PEFT's.
 * The merge functions: magnitude pruning keeps the int(density·n) largest |x| (ties: lower index
 * first, the garden's topKMask), random pruning keeps x with probability density and divides by
 * density (the garden's counter-based randomKeepMask, seeded, instead of torch.bernoulli), TIES
 * elects sign(Σ xᵢ) (>= 0 → +; "frequency": Σ sign xᵢ) and averages the weighted agreeing values.
 */
import { randomKeepMask, topKMask } from '../operators/select.ts';
import { loraDeltaOutIn, loraScaling, type Adapter, type LinearSite, type LoraPair } from './lora.ts';
import { svd } from './svd.ts';

export const COMBINATIONS = Object.freeze([
  'linear',
  'cat',
  'svd',
  'ties',
  'ties_svd',
  'dare_linear',
  'dare_linear_svd',
  'dare_ties',
  'dare_ties_svd',
  'magnitude_prune',
  'magnitude_prune_svd',
] as const);
export type Combination = (typeof COMBINATIONS)[number];

export interface CombineOptions {
  combination: Combination;
  weights: readonly number[];
  density?: number;
  majoritySignMethod?: 'total' | 'frequency';
  svdRank?: number;
  /** Seed of the DARE masks (PEFT draws them from torch's global generator). */
  seed?: number;
}

type MergeFn = 'task_arithmetic' | 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

const MERGE_OF: Record<Exclude<Combination, 'cat'>, MergeFn> = {
  linear: 'task_arithmetic',
  svd: 'task_arithmetic',
  ties: 'ties',
  ties_svd: 'ties',
  dare_linear: 'dare_linear',
  dare_linear_svd: 'dare_linear',
  dare_ties: 'dare_ties',
  dare_ties_svd: 'dare_ties',
  magnitude_prune: 'magnitude_prune',
  magnitude_prune_svd: 'magnitude_prune',
};

/** PEFT's prune(): density ≥ 1 is the identity; magnitude keeps the top-k, random keeps with p = density and rescales. */
function prune(x: Float32Array, density: number, method: 'magnitude' | 'random', name: string, seed: number, stream: number): Float32Array {
  if (density >= 1) return x;
  if (density < 0) throw new Error(`density should be >= 0, got ${density}`);
  if (method === 'magnitude') {
    const keep = topKMask(x, density);
    return x.map((v, i) => (keep[i] ? v : 0));
  }
  const keep = randomKeepMask(seed, name, x.length, 1 - density, stream);
  return x.map((v, i) => (keep[i] ? v / density : 0));
}

/** merge_utils.py's task_arithmetic / ties / dare_linear / dare_ties / magnitude_prune over equal-length tensors. */
export function mergeTensors(
  fn: MergeFn,
  tensors: readonly Float32Array[],
  weights: readonly number[],
  opts: { density?: number; majoritySignMethod?: 'total' | 'frequency'; name: string; seed: number },
): Float32Array {
  const n = tensors[0].length;
  const need = () => {
    if (opts.density === undefined) throw new Error(`combination "${fn}" needs a density`);
    return opts.density;
  };
  let ts = tensors;
  if (fn === 'ties' || fn === 'magnitude_prune') ts = tensors.map((t, i) => prune(t, need(), 'magnitude', opts.name, opts.seed, i));
  if (fn === 'dare_linear' || fn === 'dare_ties') ts = tensors.map((t, i) => prune(t, need(), 'random', opts.name, opts.seed, i));
  const out = new Float32Array(n);
  if (fn === 'task_arithmetic' || fn === 'magnitude_prune' || fn === 'dare_linear') {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < ts.length; i++) s += ts[i][j] * weights[i];
      out[j] = s;
    }
    return out;
  }
  // TIES: the sign is elected on the unweighted (pruned) tensors, the weighted agreeing values are averaged by count.
  const method = opts.majoritySignMethod ?? 'total';
  for (let j = 0; j < n; j++) {
    let mag = 0;
    for (let i = 0; i < ts.length; i++) mag += method === 'total' ? ts[i][j] : Math.sign(ts[i][j]);
    const major = mag >= 0 ? 1 : -1;
    let s = 0;
    let count = 0;
    for (let i = 0; i < ts.length; i++) {
      if (Math.sign(ts[i][j]) === major) {
        s += ts[i][j] * weights[i];
        count++;
      }
    }
    out[j] = s / Math.max(count, 1);
  }
  return out;
}

/** The new adapter, named by module; adapters must share their base species and layout. */
export function combineAdapters(adapters: readonly Adapter[], opts: CombineOptions): Adapter {
  if (adapters.length === 0) throw new Error('no adapters to combine');
  if (!COMBINATIONS.includes(opts.combination))
    throw new Error(`unknown combination_type "${String(opts.combination)}"; valid: ${COMBINATIONS.join(', ')}`);
  if (opts.weights.length !== adapters.length) throw new Error(`${opts.weights.length} weights for ${adapters.length} adapters`);
  const species = new Set(adapters.map((a) => a.species));
  if (species.size > 1) throw new Error(`the adapters belong to different base species: ${[...species].join(', ')}`);
  for (const a of adapters) if (a.saved.size) throw new Error('adapters with modules_to_save cannot be combined (PEFT refuses them too)');
  // PEFT: one adapter means linear.
  const combination: Combination = adapters.length === 1 ? 'linear' : opts.combination;
  const ranks = adapters.map((a) => a.config.r);
  let r: number;
  if (combination === 'cat') r = ranks.reduce((x, y) => x + y, 0);
  else if (combination.endsWith('svd')) r = opts.svdRank ?? Math.max(...ranks);
  else {
    if (new Set(ranks).size !== 1)
      throw new Error(`all adapters must have the same r for combination_type ${combination}; got ${ranks.join(', ')}`);
    r = ranks[0];
  }
  const seed = opts.seed ?? 0;
  const sites = new Map<string, LinearSite>();
  for (const a of adapters) for (const [m, p] of a.lora) sites.set(m, p.site);
  const lora = new Map<string, LoraPair>();
  for (const [module, site] of sites) {
    const present = adapters
      .map((a, i) => ({ p: a.lora.get(module), w: opts.weights[i], s: loraScaling(a.config, a.config.r) }))
      .filter((x) => x.p !== undefined) as { p: LoraPair; w: number; s: number }[];
    const I = site.inFeatures;
    const O = site.outFeatures;
    const a = new Float32Array(r * I);
    const b = new Float32Array(O * r);
    if (combination === 'cat') {
      let at = 0;
      for (const x of present) {
        for (let k = 0; k < x.p.r; k++) for (let i = 0; i < I; i++) a[(at + k) * I + i] = x.p.a[k * I + i] * x.w * x.s;
        for (let o = 0; o < O; o++) for (let k = 0; k < x.p.r; k++) b[o * r + at + k] = x.p.b[o * x.p.r + k];
        at += x.p.r;
      }
    } else if (combination.endsWith('svd')) {
      const deltas = present.map((x) => Float32Array.from(loraDeltaOutIn(x.p, x.s)));
      const merged = mergeTensors(
        MERGE_OF[combination as Exclude<Combination, 'cat'>],
        deltas,
        present.map((x) => x.w),
        { ...opts, name: module, seed },
      );
      const f = svd(merged, O, I);
      const k = Math.min(r, f.k);
      for (let c = 0; c < k; c++) {
        for (let i = 0; i < I; i++) a[c * I + i] = f.vt[c * I + i];
        for (let o = 0; o < O; o++) b[o * r + c] = f.u[o * f.k + c] * f.s[c];
      }
    } else {
      const fn = MERGE_OF[combination];
      const wa = present.map((x) => Math.sqrt(Math.abs(x.w * x.s)) * (x.w * x.s >= 0 ? 1 : -1));
      const wb = present.map((x) => Math.sqrt(Math.abs(x.w * x.s)));
      a.set(
        mergeTensors(
          fn,
          present.map((x) => x.p.a),
          wa,
          { ...opts, name: `${module}.lora_A`, seed },
        ),
      );
      b.set(
        mergeTensors(
          fn,
          present.map((x) => x.p.b),
          wb,
          { ...opts, name: `${module}.lora_B`, seed },
        ),
      );
    }
    lora.set(module, { site, r, a, b });
  }
  const targets = [...new Set(adapters.flatMap((x) => x.config.targetModules))].sort();
  return {
    config: { ...adapters[0].config, r, alpha: r, targetModules: targets },
    lora,
    saved: new Map(),
    ...(adapters[0].species ? { species: adapters[0].species } : {}),
  };
}
