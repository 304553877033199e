/**
 * The operator registry: one const table, every operator declared once as data. The UI, the CLI,
 * the policy allowlist and the GPU kernels read this table; nothing registers itself elsewhere.
 *
 * TIES, DARE, DARE-TIES, sparse task delta, task delta and the federated update are instances of
 * ONE task-arithmetic family (task-arithmetic.cpu.ts) configured by sparsification × consensus,
 * like mergekit's GeneralizedTaskArithmeticMerge; their parameter lists follow the settings.
 * Version 2.0.0 of an operator follows mergekit's semantics (docs/OPERATORS.md); 1.x kept
 * round(density·n), elected sign 0 on a zero sum and pre-normalised blend weights.
 */
import type { OperatorDef, ParamDef, TaskArithmeticConfig } from './types.ts';
import { blendCpu, blendWeights } from './blend.cpu.ts';
import { taskArithmeticCpu, taskArithmeticPrepare } from './task-arithmetic.cpu.ts';
import { crossoverCpu, CROSSOVER_GRANULARITIES } from './crossover.cpu.ts';
import { mutateCpu, tensorStd } from './mutate.cpu.ts';
import { pruneCpu } from './prune.cpu.ts';
import { slerpCpu } from './slerp.cpu.ts';
import { soupBlendWeights, soupCpu, SOUP_MODES } from './soup.cpu.ts';
import { fakeQuantize, quantizeSkip, quantizeStore, quantScheme, QUANT_KEYS, QUANT_SCHEMES } from './quantize.cpu.ts';
import { nearswapCpu } from './nearswap.cpu.ts';
import { modelStockCpu } from './model-stock.cpu.ts';
import { nuslerpCpu } from './nuslerp.cpu.ts';
import { multislerpCpu } from './multislerp.cpu.ts';
import { karcherCpu } from './karcher.cpu.ts';
import { sceCpu } from './sce.cpu.ts';
import { arceeFusionCpu } from './arcee-fusion.cpu.ts';
import { ramCpu } from './ram.cpu.ts';
import { passthroughCpu, passthroughLayout } from './passthrough.ts';
import { regmeanCpu } from './regmean.cpu.ts';
import { fisherCpu } from './fisher.cpu.ts';
import { FISHER_LABELS, type StatisticsKind } from './statistics.ts';

const FLOAT_ONLY_NOTE = 'Non-float tensors are always copied unchanged.';

function weightsParam(description: string, min = -10, max = 10): ParamDef {
  return { name: 'weights', type: 'weights', scope: 'perModel', description, min, max };
}

/** nuslerp's parameters, with or without a base. */
const NUSLERP_PARAMS: readonly ParamDef[] = [
  weightsParam('Weight of each model; t = w₁ / (w₀ + w₁) (default 1 each: t = 0.5)'),
  {
    name: 'nuslerpFlatten',
    type: 'boolean',
    scope: 'global',
    description: 'Interpolate the whole tensor as one vector (mergekit’s default); off: per vector along a dimension',
    default: true,
  },
  {
    name: 'nuslerpRowWise',
    type: 'boolean',
    scope: 'global',
    description: 'Without flatten: vectors along the first dimension instead of the last',
    default: false,
  },
];

/** multislerp's parameters, with or without a base. */
const MULTISLERP_PARAMS: readonly ParamDef[] = [
  weightsParam('Weight of each model (default 1 each)'),
  { name: 'normalizeWeights', type: 'boolean', scope: 'global', description: 'Divide the weights by their sum', default: true },
  { name: 'eps', type: 'number', scope: 'global', description: 'Guard added to norms', default: 1e-8, min: 0, max: 1 },
];

interface FamilyMember {
  id: string;
  mergekit?: string;
  name: string;
  description: string;
  reference: string;
  cfg: TaskArithmeticConfig;
  parents?: { min: number; max: number };
  /** Defaults that differ between members. */
  defaults: { normalize: boolean; density?: number; drop?: number; rescale?: 'none' | 'inverse' | 'l1' };
  clip?: boolean;
  weights?: ParamDef;
}

/** A member of the task-arithmetic family: the parameter list follows the settings. */
function taskArithmetic(m: FamilyMember): OperatorDef {
  const params: ParamDef[] = [
    m.weights ?? weightsParam('Weight wᵢ of each parent’s delta (default 1 each)'),
    {
      name: 'lambda',
      type: 'number',
      scope: 'global',
      description: 'Scale λ applied to the combined delta before adding it to the base',
      default: 1,
      min: -10,
      max: 10,
    },
    {
      name: 'normalize',
      type: 'boolean',
      scope: 'global',
      description: 'Divide by the sum of the weights (TIES: of the agreeing parents’ weights)',
      default: m.defaults.normalize,
    },
  ];
  if (m.cfg.sparsify === 'magnitude') {
    params.push(
      {
        name: 'density',
        type: 'number',
        scope: 'global',
        perParent: true,
        description: 'Fraction of each delta kept, largest magnitudes first',
        default: m.defaults.density,
        min: 0,
        max: 1,
      },
      {
        name: 'trimScope',
        type: 'enum',
        scope: 'global',
        description: 'Trim each tensor on its own (mergekit) or the whole model at once (TIES paper)',
        default: 'tensor',
        options: ['tensor', 'model'],
      },
    );
  }
  if (m.cfg.sparsify === 'outliers') {
    params.push(
      {
        name: 'density',
        type: 'number',
        scope: 'global',
        perParent: true,
        description: 'Fraction of each delta kept, after the largest gamma and the smallest are dropped',
        default: m.defaults.density,
        min: 0,
        max: 1,
      },
      {
        name: 'gamma',
        type: 'number',
        scope: 'global',
        perParent: true,
        description: 'Fraction of each delta’s largest magnitudes dropped as outliers',
        default: 0.01,
        min: 0,
        max: 1,
      },
    );
  }
  if (m.cfg.sparsify === 'della') {
    params.push(
      {
        name: 'density',
        type: 'number',
        scope: 'global',
        perParent: true,
        description: 'Mean keep probability of each delta element',
        default: m.defaults.density,
        min: 0,
        max: 1,
      },
      {
        name: 'epsilon',
        type: 'number',
        scope: 'global',
        perParent: true,
        description: 'Spread of the keep probability by magnitude rank: density ± epsilon',
        default: 0.15,
        min: 0,
        max: 1,
      },
    );
  }
  if (m.cfg.sparsify === 'random') {
    params.push({
      name: 'drop',
      type: 'number',
      scope: 'global',
      perParent: true,
      description: 'Probability p that a delta element is dropped',
      default: m.defaults.drop,
      min: 0,
      max: 1,
    });
  }
  if (m.cfg.sparsify !== 'none') {
    params.push({
      name: 'rescale',
      type: 'enum',
      scope: 'global',
      description: 'Rescale kept elements: none, by 1/(kept fraction), or to keep the delta’s L1 norm',
      default: m.defaults.rescale ?? 'none',
      options: ['none', 'inverse', 'l1'],
    });
  }
  if (m.clip) {
    params.push(
      {
        name: 'clipNorm',
        type: 'number',
        scope: 'global',
        description: 'Clip each update to this L2 norm first (0: no clipping)',
        default: 0,
        min: 0,
        max: 1e9,
      },
      {
        name: 'clipScope',
        type: 'enum',
        scope: 'global',
        description: 'Measure the norm over the whole update or per tensor',
        default: 'update',
        options: ['update', 'tensor'],
      },
    );
  }
  const cfg = m.cfg;
  return {
    id: m.id,
    version: '2.0.0',
    name: m.name,
    mergekit: m.mergekit,
    description: `${m.description} The first parent is the base.`,
    reference: m.reference,
    parents: m.parents ?? { min: 1, max: 16 },
    needsBase: true,
    params,
    kernel: { id: 'task-arithmetic', cfg },
    cpu: (inputs, params, ctx) => taskArithmeticCpu(cfg, inputs, params, ctx),
    prepare: (model, params) => taskArithmeticPrepare(cfg, model, params),
  };
}

export const OPERATORS = Object.freeze({
  blend: {
    id: 'blend',
    mergekit: 'linear',
    version: '2.0.0',
    name: 'Blend',
    description: 'A weighted average of the parents, tensor by tensor: Σ wᵢxᵢ / Σ wᵢ (mergekit "linear"), or Σ wᵢxᵢ with normalise off.',
    reference: 'Model soups (Wortsman et al., 2022); mergekit "linear"',
    parents: { min: 2, max: 16 },
    needsBase: false,
    params: [
      { name: 'weights', type: 'weights', scope: 'perModel', description: 'One weight per parent (default 1 each)', min: -10, max: 10 },
      {
        name: 'normalize',
        type: 'boolean',
        scope: 'global',
        description: 'Divide the weighted sum by the sum of the weights',
        default: true,
      },
    ],
    kernel: { id: 'blend', weights: (params, parents) => blendWeights(params, parents) },
    elementwise: true,
    cpu: (inputs, params) => blendCpu(inputs, params),
  },
  'task-delta': taskArithmetic({
    id: 'task-delta',
    mergekit: 'task_arithmetic',
    name: 'Task delta',
    description: 'Adds what each parent learned on top of the base: base + λ·Σ wᵢ(parentᵢ − base).',
    reference: 'Editing models with task arithmetic (Ilharco et al., 2023); mergekit "task_arithmetic"',
    cfg: { sparsify: 'none', consensus: 'none' },
    defaults: { normalize: false },
  }),
  'sparse-task-delta': taskArithmetic({
    id: 'sparse-task-delta',
    name: 'Sparse task delta',
    description: 'Task delta that keeps only the largest changes of each parent (a density fraction by magnitude) and drops the rest.',
    reference: 'mergekit "task_arithmetic" with magnitude sparsification',
    cfg: { sparsify: 'magnitude', consensus: 'none' },
    defaults: { normalize: false, density: 0.5, rescale: 'none' },
  }),
  dare: taskArithmetic({
    id: 'dare',
    mergekit: 'dare_linear',
    name: 'DARE',
    description:
      'Randomly drops each changed weight with probability p (by the seed) and scales the survivors so each delta keeps its L1 norm (mergekit; 1/(1−p) with rescale "inverse"), then adds the deltas to the base.',
    reference: 'Language models are Super Mario (Yu et al., 2024); mergekit "dare_linear"',
    cfg: { sparsify: 'random', consensus: 'none' },
    defaults: { normalize: false, drop: 0.5, rescale: 'l1' },
  }),
  ties: taskArithmetic({
    id: 'ties',
    mergekit: 'ties',
    name: 'TIES merge',
    description:
      'Trims each parent’s delta to its largest changes, elects a sign per weight by total mass, and averages only the deltas that agree with it.',
    reference: 'TIES-Merging (Yadav et al., 2023); mergekit "ties"',
    cfg: { sparsify: 'magnitude', consensus: 'ties' },
    parents: { min: 2, max: 16 },
    defaults: { normalize: true, density: 0.2, rescale: 'none' },
  }),
  'dare-ties': taskArithmetic({
    id: 'dare-ties',
    mergekit: 'dare_ties',
    name: 'DARE-TIES',
    description: 'DARE’s random drop and rescale, then TIES’s sign election and agreeing mean.',
    reference: 'mergekit "dare_ties"',
    cfg: { sparsify: 'random', consensus: 'ties' },
    parents: { min: 2, max: 16 },
    defaults: { normalize: false, drop: 0.5, rescale: 'l1' },
  }),
  breadcrumbs: taskArithmetic({
    id: 'breadcrumbs',
    mergekit: 'breadcrumbs',
    name: 'Model Breadcrumbs',
    description:
      'Task delta that drops each parent’s largest changes (outliers, a gamma fraction) and its smallest, keeping a density fraction in between.',
    reference: 'Model Breadcrumbs (Davari & Belilovsky, 2023); mergekit "breadcrumbs"',
    cfg: { sparsify: 'outliers', consensus: 'none' },
    defaults: { normalize: false, density: 0.9, rescale: 'none' },
  }),
  'breadcrumbs-ties': taskArithmetic({
    id: 'breadcrumbs-ties',
    mergekit: 'breadcrumbs_ties',
    name: 'Model Breadcrumbs with TIES',
    description: 'Breadcrumbs’ outlier and small-change drop, then TIES’s sign election and agreeing sum.',
    reference: 'Model Breadcrumbs (Davari & Belilovsky, 2023); mergekit "breadcrumbs_ties"',
    cfg: { sparsify: 'outliers', consensus: 'ties' },
    parents: { min: 2, max: 16 },
    defaults: { normalize: false, density: 0.9, rescale: 'none' },
  }),
  della: taskArithmetic({
    id: 'della',
    mergekit: 'della',
    name: 'DELLA',
    description:
      'Drops each change at random with a probability that falls with its magnitude rank in its row (MAGPRUNE), rescales to keep the L1 norm, then TIES’s sign election and agreeing mean.',
    reference: 'DELLA-Merging (Deep et al., 2024); mergekit "della"',
    cfg: { sparsify: 'della', consensus: 'ties' },
    parents: { min: 2, max: 16 },
    defaults: { normalize: true, density: 0.5, rescale: 'l1' },
  }),
  'della-linear': taskArithmetic({
    id: 'della-linear',
    mergekit: 'della_linear',
    name: 'Linear DELLA',
    description: 'DELLA’s rank-dependent random drop and L1 rescale, then the deltas are added to the base (no sign election).',
    reference: 'DELLA-Merging (Deep et al., 2024); mergekit "della_linear"',
    cfg: { sparsify: 'della', consensus: 'none' },
    defaults: { normalize: false, density: 0.5, rescale: 'l1' },
  }),
  federated: taskArithmetic({
    id: 'federated',
    name: 'Federated update',
    description:
      'Averages local updates weighted by how many samples each saw: base + Σ nᵢΔᵢ / Σ nᵢ, optionally clipping each update’s L2 norm first.',
    reference: 'FedAvg (McMahan et al., 2017); norm clipping as in DP-FedAvg',
    cfg: { sparsify: 'none', consensus: 'none' },
    parents: { min: 1, max: 64 },
    defaults: { normalize: true },
    clip: true,
    weights: weightsParam('nᵢ: the number of local samples behind each update (default 1 each)', 0, 1e12),
  }),
  crossover: {
    id: 'crossover',
    version: '1.0.0',
    name: 'Crossover',
    description: `Builds a child by taking each element, row or whole tensor from one parent, chosen by the seed. ${FLOAT_ONLY_NOTE}`,
    reference: 'Uniform crossover (genetic algorithms); seeded per (tensor, index)',
    parents: { min: 2, max: 16 },
    needsBase: false,
    params: [
      {
        name: 'granularity',
        type: 'enum',
        scope: 'global',
        description: 'What one draw decides: an element, a row (slice along the first dimension) or the whole tensor',
        default: 'element',
        options: CROSSOVER_GRANULARITIES,
      },
      weightsParam('Chance of taking each parent (default equal)', 0, 1e6),
    ],
    kernel: { id: 'crossover' },
    elementwise: true,
    cpu: (inputs, params, ctx) => crossoverCpu(inputs, params, ctx),
  },
  mutate: {
    id: 'mutate',
    version: '1.0.0',
    name: 'Bounded mutation',
    description:
      'Adds seeded noise sized to each tensor’s own spread, never moving any weight by more than ε (up to one float32 rounding of the sum).',
    reference: 'Gaussian/uniform mutation (evolution strategies), bounded',
    parents: { min: 1, max: 1 },
    needsBase: false,
    params: [
      {
        name: 'strength',
        type: 'number',
        scope: 'global',
        description: 'Noise standard deviation as a multiple of the tensor’s standard deviation',
        default: 0.01,
        min: 0,
        max: 10,
      },
      {
        name: 'epsilon',
        type: 'number',
        scope: 'global',
        description: 'Largest change allowed to any weight (absolute)',
        default: 0.01,
        min: 0,
        max: 100,
      },
      {
        name: 'rate',
        type: 'number',
        scope: 'global',
        description: 'Fraction of weights mutated (by the seed)',
        default: 1,
        min: 0,
        max: 1,
      },
    ],
    kernel: { id: 'mutate' },
    cpu: (inputs, params, ctx) => mutateCpu(inputs, params, ctx),
    prepare: (model) => Object.fromEntries(model.names.map((name) => [name, { std: tensorStd(model.inputs(name)[0]) }])),
  },
  prune: {
    id: 'prune',
    version: '2.0.0',
    name: 'Magnitude pruning',
    description: 'Sets the smallest weights to zero: exactly a fraction of each tensor, the smallest magnitudes first, ties by position.',
    reference: 'Magnitude pruning (Han et al., 2015)',
    parents: { min: 1, max: 1 },
    needsBase: false,
    params: [
      {
        name: 'fraction',
        type: 'number',
        scope: 'global',
        description: 'Fraction of each tensor set to zero',
        default: 0.5,
        min: 0,
        max: 1,
      },
      { name: 'matricesOnly', type: 'boolean', scope: 'global', description: 'Leave 1-D tensors (biases, norms) alone', default: true },
    ],
    kernel: { id: 'prune' },
    cpu: (inputs, params) => pruneCpu(inputs, params),
    skip: (t, params) => (params.matricesOnly !== false && t.shape.length < 2 ? 'prune leaves 1-D tensors alone (matricesOnly)' : null),
  },
  slerp: {
    id: 'slerp',
    mergekit: 'slerp',
    version: '1.0.0',
    name: 'SLERP',
    description:
      'Moves from the first parent to the second along the arc between them (spherical interpolation), or in a straight line when they point the same way.',
    reference: 'Shoemake (1985); mergekit "slerp"',
    parents: { min: 2, max: 2 },
    needsBase: false,
    params: [
      {
        name: 't',
        type: 'number',
        scope: 'global',
        description: 'Position between the parents: 0 is the first, 1 the second (a list is a layer gradient)',
        default: 0.5,
        min: 0,
        max: 1,
      },
    ],
    kernel: { id: 'slerp' },
    cpu: (inputs, params) => slerpCpu(inputs, params),
  },
  soup: {
    id: 'soup',
    version: '2.0.0',
    name: 'Parent-pool soup',
    description:
      'Averages a pool of parents: equally, by fitness weights, or by weights drawn from the seed. (The greedy soup, which tries parents one by one on an evaluation, is a separate helper.)',
    reference: 'Model soups (Wortsman et al., 2022)',
    parents: { min: 2, max: 64 },
    needsBase: false,
    params: [
      {
        name: 'mode',
        type: 'enum',
        scope: 'global',
        description: 'uniform, weighted (by the weights) or seeded (weights drawn from the seed)',
        default: 'uniform',
        options: SOUP_MODES,
      },
      weightsParam('Fitness or weight of each parent, for mode "weighted"', 0, 1e12),
    ],
    kernel: { id: 'blend', weights: (params, parents, seed) => soupBlendWeights(params, parents, seed) },
    elementwise: true,
    cpu: (inputs, params, ctx) => soupCpu(inputs, params, ctx),
  },
  quantize: {
    id: 'quantize',
    version: '1.0.0',
    name: 'Quantize',
    description:
      'Stores each weight matrix in 8 or 4 bits with one scale per block of weights, about 4× or 8× smaller; 1-D tensors stay in float.',
    reference: 'Block-wise symmetric quantization (as in GGML Q8_0/Q4_0)',
    parents: { min: 1, max: 1 },
    needsBase: false,
    params: [
      {
        name: 'scheme',
        type: 'enum',
        scope: 'global',
        description: 'int8 (127 levels each side) or int4 (7 levels each side)',
        default: 'int8',
        options: Object.keys(QUANT_SCHEMES),
      },
      {
        name: 'blockSize',
        type: 'integer',
        scope: 'global',
        description: 'Weights per scale, along the last dimension',
        default: 32,
        min: 4,
        max: 4096,
      },
    ],
    kernel: { id: 'quantize' },
    cpu: (inputs, params, ctx) => fakeQuantize(inputs[0], ctx.shape, quantScheme(params.scheme), Number(params.blockSize)),
    skip: (t) => quantizeSkip(t),
    store: (t, inputs, out, params) => quantizeStore(t, inputs, out, params),
    metadata: (params) => ({ [QUANT_KEYS.scheme]: String(params.scheme), [QUANT_KEYS.blockSize]: String(params.blockSize) }),
  },
  // The rest of mergekit's catalog (docs/OPERATORS.md, "mergekit's other methods").
  nearswap: {
    id: 'nearswap',
    mergekit: 'nearswap',
    version: '1.0.0',
    name: 'NearSwap',
    description:
      'Takes the other model’s weight where it is within about t of the base’s and keeps the base’s where they are far apart: w = clamp(t / |a − b|, 0, 1), out = w·b + (1 − w)·a. The first parent is the base.',
    reference: 'mergekit "nearswap" (alchemonaut, QuartetAnemoi)',
    parents: { min: 1, max: 1 },
    needsBase: true,
    params: [
      {
        name: 't',
        type: 'number',
        scope: 'global',
        description: 'Distance below which the other model’s weight is taken whole (mergekit requires it; a list is a layer gradient)',
        default: 0.0001,
        min: 0,
        max: 1e9,
      },
    ],
    elementwise: true,
    kernel: { id: 'nearswap' },
    cpu: (inputs, params) => nearswapCpu(inputs, params),
  },
  'model-stock': {
    id: 'model-stock',
    mergekit: 'model_stock',
    version: '1.0.0',
    name: 'Model Stock',
    description:
      'Moves from the base towards the average of the fine-tuned models by a ratio t = N·cos θ / (1 + (N − 1)·cos θ) set by how aligned their changes are (cos θ: mean pairwise cosine). The first parent is the base.',
    reference: 'Model Stock (Jang et al., 2024); mergekit "model_stock"',
    parents: { min: 2, max: 16 },
    needsBase: true,
    params: [
      {
        name: 'filterWise',
        type: 'boolean',
        scope: 'global',
        description: 'One ratio per row (last dimension) instead of one per tensor',
        default: false,
      },
    ],
    kernel: { id: 'model-stock' },
    cpu: (inputs, params, ctx) => modelStockCpu(inputs, params, ctx),
  },
  nuslerp: {
    id: 'nuslerp',
    mergekit: 'nuslerp',
    version: '1.0.0',
    name: 'NuSLERP',
    description:
      'Spherical interpolation between two models at t = w₁ / (w₀ + w₁), over the whole tensor or per row or column. (With a base: nuslerp-base.)',
    reference: 'mergekit "nuslerp"',
    parents: { min: 2, max: 2 },
    needsBase: false,
    params: NUSLERP_PARAMS,
    kernel: { id: 'nuslerp' },
    cpu: (inputs, params, ctx) => nuslerpCpu(inputs, params, ctx, false),
  },
  'nuslerp-base': {
    id: 'nuslerp-base',
    version: '1.0.0',
    name: 'NuSLERP of task vectors',
    description:
      'NuSLERP of the two models’ changes from the base, added back to the base (mergekit "nuslerp" with a base_model). The first parent is the base.',
    reference: 'mergekit "nuslerp" with base_model',
    parents: { min: 2, max: 2 },
    needsBase: true,
    params: NUSLERP_PARAMS,
    kernel: { id: 'nuslerp' },
    cpu: (inputs, params, ctx) => nuslerpCpu(inputs, params, ctx, true),
  },
  multislerp: {
    id: 'multislerp',
    mergekit: 'multislerp',
    version: '1.0.0',
    name: 'Multi-SLERP',
    description:
      'Weighted spherical average of two or more models: their directions averaged in the tangent space at the weighted mean and mapped back to the sphere, scaled by the weighted mean norm. (With a base: multislerp-base.)',
    reference: 'mergekit "multislerp" (Goddard)',
    parents: { min: 2, max: 16 },
    needsBase: false,
    params: MULTISLERP_PARAMS,
    kernel: { id: 'multislerp' },
    cpu: (inputs, params) => multislerpCpu(inputs, params, false),
  },
  'multislerp-base': {
    id: 'multislerp-base',
    version: '1.0.0',
    name: 'Multi-SLERP of task vectors',
    description:
      'Multi-SLERP of the models’ changes from the base, added back to the base (mergekit "multislerp" with a base_model). The first parent is the base.',
    reference: 'mergekit "multislerp" with base_model',
    parents: { min: 2, max: 16 },
    needsBase: true,
    params: MULTISLERP_PARAMS,
    kernel: { id: 'multislerp' },
    cpu: (inputs, params) => multislerpCpu(inputs, params, true),
  },
  karcher: {
    id: 'karcher',
    mergekit: 'karcher',
    version: '1.0.0',
    name: 'Karcher mean',
    description:
      'The Riemannian mean of the models’ directions on the unit sphere, found by iteration, scaled by their mean norm. The receipt reports the iterations each tensor took.',
    reference: 'Karcher (1977); mergekit "karcher"',
    parents: { min: 2, max: 16 },
    needsBase: false,
    params: [
      { name: 'maxIter', type: 'integer', scope: 'global', description: 'Most iterations per tensor', default: 10, min: 0, max: 1000 },
      {
        name: 'tol',
        type: 'number',
        scope: 'global',
        description: 'Stop when the tangent step is shorter than this; also the smallest norm and angle that count',
        default: 1e-5,
        min: 0,
        max: 1,
      },
    ],
    kernel: { id: 'karcher' },
    cpu: (inputs, params, ctx) => karcherCpu(inputs, params, ctx),
  },
  sce: {
    id: 'sce',
    mergekit: 'sce',
    version: '1.0.0',
    name: 'SCE',
    description:
      'Select the elements whose changes vary most between the models, weight each model by its mean squared change, erase the changes that disagree with the elected sign, and average the rest. The first parent is the base.',
    reference: 'FuseChat 2.0 (Wan et al., 2024); mergekit "sce"',
    parents: { min: 1, max: 16 },
    needsBase: true,
    params: [
      {
        name: 'selectTopk',
        type: 'number',
        scope: 'global',
        description: 'Fraction of the elements with non-zero variance kept, by variance (1: all, mergekit’s default)',
        default: 1,
        min: 0,
        max: 1,
      },
    ],
    kernel: { id: 'sce' },
    cpu: (inputs, params) => sceCpu(inputs, params),
  },
  'arcee-fusion': {
    id: 'arcee-fusion',
    mergekit: 'arcee_fusion',
    version: '1.0.0',
    name: 'Arcee Fusion',
    description:
      'Keeps the other model’s changes only where they matter: importance = |change| × the KL divergence of the row’s softmaxes, kept where it reaches median + 1.5·IQR. The first parent is the base.',
    reference: 'mergekit "arcee_fusion" (Arcee AI)',
    parents: { min: 1, max: 1 },
    needsBase: true,
    params: [],
    kernel: { id: 'arcee-fusion' },
    cpu: (inputs, _params, ctx) => arceeFusionCpu(inputs, ctx),
  },
  ram: {
    id: 'ram',
    mergekit: 'ram',
    version: '1.0.0',
    name: 'RAM',
    description:
      'Reinforced agent merging: an element changed by one model takes that change whole, one changed by several the mean of their changes (changes below ε do not count). The first parent is the base.',
    reference: 'Reinforced Agent Merging (arXiv 2601.13572); mergekit "ram"',
    parents: { min: 1, max: 16 },
    needsBase: true,
    params: [
      {
        name: 'epsilon',
        type: 'number',
        scope: 'global',
        description: 'A change counts when its magnitude is above this',
        default: 1e-5,
        min: 0,
        max: 1e6,
      },
    ],
    elementwise: true,
    kernel: { id: 'ram' },
    cpu: (inputs, params) => ramCpu(inputs, params),
  },
  'ramplus-tl': {
    id: 'ramplus-tl',
    mergekit: 'ramplus_tl',
    version: '1.0.0',
    name: 'RAM+ (tensor-local)',
    description:
      'RAM with each model’s unique changes raised by 1 + r·clamp(ρ, 0, α), ρ the ratio of its shared to its unique changes in the tensor. The first parent is the base.',
    reference: 'Reinforced Agent Merging (arXiv 2601.13572); mergekit "ramplus_tl"',
    parents: { min: 1, max: 16 },
    needsBase: true,
    params: [
      { name: 'r', type: 'number', scope: 'global', description: 'Strength of the boost', default: 0.1, min: 0, max: 100 },
      {
        name: 'alpha',
        type: 'number',
        scope: 'global',
        description: 'Cap on the shared-to-unique ratio ρ',
        default: 0.2,
        min: 0,
        max: 1e6,
      },
      {
        name: 'epsilon',
        type: 'number',
        scope: 'global',
        description: 'A change counts when its magnitude is above this',
        default: 1e-5,
        min: 0,
        max: 1e6,
      },
    ],
    kernel: { id: 'ram' },
    cpu: (inputs, params) => ramCpu(inputs, params),
  },
  // Data-informed merges: they need statistics from a declared calibration split (statistics.ts,
  // calibration.ts; garden breed --calibration FILE), so they run only where those are given.
  regmean: {
    id: 'regmean',
    version: '1.0.0',
    name: 'RegMean',
    description:
      'Merges each linear layer in closed form so that it answers the parents’ calibration inputs as each parent did: W = (Σ G̃ᵢ)⁻¹ Σ G̃ᵢWᵢ, Gᵢ the Gram matrix of the layer’s inputs under parent i; other tensors are averaged. Needs a calibration split.',
    reference: 'Dataless Knowledge Fusion by Merging Weights of Language Models (Jin et al., 2023); FusionBench "regmean"',
    parents: { min: 1, max: 16 },
    needsBase: false,
    params: [
      {
        name: 'alpha',
        type: 'number',
        scope: 'global',
        description: 'Scale α of the Grams’ off-diagonal: G̃ = α·G + (1 − α)·diag(G) (1: the plain least-squares solution)',
        default: 0.9,
        min: 0,
        max: 1,
      },
    ],
    kernel: undefined, // host-side solve (docs/OPERATORS.md)
    cpu: (inputs, params, ctx) => regmeanCpu(inputs, params, ctx),
  },
  fisher: {
    id: 'fisher',
    version: '1.0.0',
    name: 'Fisher-weighted averaging',
    description:
      'Averages the parents element by element, each weighted by its diagonal Fisher information on its calibration rows: Σ λᵢ(Fᵢ + ε)θᵢ / Σ λᵢ(Fᵢ + ε). Needs a calibration split.',
    reference: 'Merging Models with Fisher-Weighted Averaging (Matena & Raffel, 2022); FusionBench "fisher_merging"',
    parents: { min: 1, max: 16 },
    needsBase: false,
    params: [
      weightsParam('Scale λᵢ of each parent’s Fisher (default 1 each)', 0, 1e6),
      {
        name: 'epsilon',
        type: 'number',
        scope: 'global',
        description: 'Added to every Fisher value, so an element no parent is sensitive to gets the λ-weighted average',
        default: 1e-6,
        min: 0,
        max: 1,
      },
      {
        name: 'fisherLabels',
        type: 'enum',
        scope: 'global',
        description:
          'Gradients of log p(y|x) at the row’s label (empirical Fisher) or at a label drawn from the parent’s softmax by the seed',
        default: 'empirical',
        options: FISHER_LABELS,
      },
    ],
    kernel: undefined, // no WGSL kernel yet: the CPU reference runs on every backend
    cpu: (inputs, params, ctx) => fisherCpu(inputs, params, ctx),
  },
  passthrough: {
    id: 'passthrough',
    mergekit: 'passthrough',
    version: '1.0.0',
    name: 'Passthrough (layer slices)',
    description:
      'Stacks layer ranges of the parents into a new model, each parent one slice in order (a "frankenmerge": layers 0–7 of one model, then 4–11 of another), optionally scaling tensors; its config says the new layer count. Without layerRange it copies its one parent. CPU only: a copy.',
    reference: 'mergekit "passthrough" with slices (Goddard et al., 2024)',
    parents: { min: 1, max: 64 },
    needsBase: false,
    params: [
      {
        name: 'layerRange',
        type: 'weights',
        scope: 'perModel',
        description: 'Each parent’s slice [from, to) of its layers, in output order (mergekit’s layer_range); absent: the one parent whole',
        min: 0,
        max: 1024,
      },
      {
        name: 'scale',
        type: 'number',
        scope: 'global',
        perParent: true,
        description:
          'Multiplies each tensor (mergekit’s scale; a filter list picks tensors by name, 0 silences one); per parent: per slice',
        default: 1,
        min: -1e6,
        max: 1e6,
      },
    ],
    kernel: undefined, // a copy (and one multiply): the CPU reference runs on every backend
    elementwise: true,
    cpu: (inputs, params) => passthroughCpu(inputs, params),
    skip: (_t, params) => (params.scale === 1 ? 'passthrough copies the tensor unchanged (scale 1)' : null),
    layout: (parents, params) => passthroughLayout(parents, params),
  },
} as const satisfies Record<string, OperatorDef>);

export type OperatorId = keyof typeof OPERATORS;

/** The data-informed operators and the statistics each needs (statistics.ts): a breed without them is refused. */
export const STATISTICS_FOR: Readonly<Partial<Record<OperatorId, StatisticsKind>>> = Object.freeze({ regmean: 'gram', fisher: 'fisher' });
export const OPERATOR_IDS = Object.freeze(Object.keys(OPERATORS) as OperatorId[]);

export function isOperatorId(id: string): id is OperatorId {
  return Object.prototype.hasOwnProperty.call(OPERATORS, id);
}

/** mergekit's method names → the garden's ids, derived from the table's `mergekit` fields. */
export const MERGEKIT_NAMES: Readonly<Record<string, OperatorId>> = Object.freeze(
  Object.fromEntries(
    OPERATOR_IDS.flatMap((id) => {
      const mk = (OPERATORS[id] as OperatorDef).mergekit;
      return mk ? [[mk, id]] : [];
    }),
  ),
);

/** The garden id of an operator named by its id or by mergekit's name; throws with the valid names. */
export function resolveOperatorId(name: string): OperatorId {
  if (isOperatorId(name)) return name;
  if (Object.prototype.hasOwnProperty.call(MERGEKIT_NAMES, name)) return MERGEKIT_NAMES[name];
  const shown = name.length > 60 ? `${name.slice(0, 60)}…` : name;
  throw new Error(
    `unknown operator ${JSON.stringify(shown)}; valid: ${OPERATOR_IDS.join(', ')} (or mergekit's ${Object.keys(MERGEKIT_NAMES).join(', ')})`,
  );
}

export function getOperator(name: string): OperatorDef {
  return OPERATORS[resolveOperatorId(name)];
}

/** Every operator in table order, for menus and allowlists. */
export function listOperators(): OperatorDef[] {
  return OPERATOR_IDS.map((id) => OPERATORS[id]);
}
