/**
 * How an operator is declared: once, as data. The UI, the CLI, the policy allowlist and the GPU
 * kernels all read the same table (src/core/operators/registry.ts).
 */
import type { Tensor } from '../tensor.ts';
import type { TensorLayout } from './passthrough.ts';

export const PARAM_TYPES = Object.freeze(['number', 'integer', 'boolean', 'enum', 'weights'] as const);
export type ParamType = (typeof PARAM_TYPES)[number];

export interface ParamDef {
  name: string;
  type: ParamType;
  description: string;
  /** 'global' applies to the whole recipe; 'perModel' takes one value per parent. */
  scope: 'global' | 'perModel';
  /** A global number that may instead be given one value per parent ({ perParent: […] }, mergekit's per-model tensor parameter). */
  perParent?: boolean;
  default?: number | boolean | string;
  min?: number;
  max?: number;
  options?: readonly string[];
}

/** What a per-tensor CPU function is told about the tensor it is working on. */
export interface TensorContext {
  name: string;
  shape: readonly number[];
  seed: number;
  /**
   * Index of inputs[*][0] within the whole tensor (default 0). Only element-wise operators accept
   * a chunk (offset > 0 or a partial tensor); operators that need the whole tensor ignore it.
   */
  offset?: number;
  /** When present, the operator adds named per-tensor statistics here (e.g. TIES's signConflicts). */
  stats?: Record<string, number>;
}

/** A tensor's identity without its data. */
export interface TensorInfo {
  name: string;
  dtype: string;
  shape: readonly number[];
}

/** The parents' float32 tensors of a whole model, for model-level pre-passes (`prepare`). */
export interface ModelView {
  /** Tensor names in model order (the first parent's order). */
  names: readonly string[];
  shapes: readonly (readonly number[])[];
  /** The inputs of one tensor, in the same order as the per-tensor `cpu` receives them. */
  inputs(name: string): readonly Float32Array[];
}

/** The configurable task-arithmetic family (mergekit's GeneralizedTaskArithmetic): how deltas are sparsified and combined. */
/**
 * none; magnitude (top-k); random (DARE's drop); outliers (mergekit magnitude_outliers, Model
 * Breadcrumbs: drop the largest gamma and the smallest); della (mergekit della_magprune:
 * rank-dependent keep probabilities within each row).
 */
export const SPARSIFY_METHODS = Object.freeze(['none', 'magnitude', 'random', 'outliers', 'della'] as const);
export type SparsifyMethod = (typeof SPARSIFY_METHODS)[number];
export const CONSENSUS_METHODS = Object.freeze(['none', 'ties'] as const);
export type ConsensusMethod = (typeof CONSENSUS_METHODS)[number];
export const RESCALE_METHODS = Object.freeze(['none', 'inverse', 'l1'] as const);
export type RescaleMethod = (typeof RESCALE_METHODS)[number];

/**
 * The GPU kernel families (src/gpu/ops): a closed set. The GPU's kernel table is keyed by these
 * ids, so an operator declared here with an existing kernel id runs on the GPU with no other list.
 */
export const KERNEL_IDS = Object.freeze([
  'blend',
  'task-arithmetic',
  'crossover',
  'mutate',
  'prune',
  'slerp',
  'quantize',
  'nearswap',
  'model-stock',
  'nuslerp',
  'multislerp',
  'karcher',
  'sce',
  'arcee-fusion',
  'ram',
] as const);
export type KernelId = (typeof KERNEL_IDS)[number];

export function isKernelId(id: string): id is KernelId {
  return (KERNEL_IDS as readonly string[]).includes(id);
}

export interface TaskArithmeticConfig {
  sparsify: SparsifyMethod;
  consensus: ConsensusMethod;
}

/** What the blend kernel multiplies and divides by: one float32 weight per parent and the divisor. */
export interface BlendWeights {
  weights: Float32Array;
  /** Σ wᵢ in float32 when normalising, else 1 (no division). */
  divisor: number;
}

/**
 * An operator's kernel and the settings of that kernel family (as mergekit keeps a family's
 * settings on the family's class): blend members say how they weigh the parents, task-arithmetic
 * members how they sparsify and combine; the other kernels take only the operator's parameters.
 */
export type KernelSpec =
  | { id: 'blend'; weights(params: ParamValues, parents: number, seed: number): BlendWeights }
  | { id: 'task-arithmetic'; cfg: TaskArithmeticConfig }
  | { id: Exclude<KernelId, 'blend' | 'task-arithmetic'> };

/**
 * Parameter values: numbers, booleans, strings, or number lists. A list is one value per parent
 * for a 'perModel' parameter, and a layer gradient for a 'global' 'number' parameter (params.ts
 * resolves gradients to one number per tensor before the per-tensor function runs).
 */
export type ParamValues = Record<string, number | boolean | string | number[]>;

/**
 * One entry of a value chosen by tensor name (mergekit's `filter:` list, ConditionalParameter):
 * the first entry whose `filter` is a substring of the tensor's name (or is absent or "*") gives
 * the value, a number or a layer gradient.
 */
export interface FilteredValue {
  filter?: string;
  value: number | number[];
}

/**
 * One value per non-base parent, in parent order (mergekit's per-model `parameters:`); each value
 * may itself be a layer gradient or a filter list, as in mergekit. Resolved per tensor to a plain
 * number list (one number per parent) before a kernel runs.
 */
export interface PerParentValue {
  perParent: (number | number[] | FilteredValue[])[];
}

/**
 * A parameter as a recipe gives it: a plain value (ParamValues), a filter list, one value per
 * parent, or per-model entries that are gradients or filter lists. params.ts resolves it per tensor to a plain ParamValues entry (`paramsAt`).
 */
export type ParamSetting = ParamValues[string] | FilteredValue[] | PerParentValue | PerModelSettings;
/** A per-model parameter (weights) whose entries may be gradients or filter lists. */
export type PerModelSettings = (number | number[] | FilteredValue[])[];
export type RecipeParams = Record<string, ParamSetting>;

export interface OperatorDef {
  id: string;
  version: string;
  name: string;
  description: string;
  /** Paper or tool this follows, for the curious. */
  reference?: string;
  /** mergekit's name for the same method (`ties`, `dare_linear`…), accepted wherever an id is. */
  mergekit?: string;
  /** How many parents (not counting a base). */
  parents: { min: number; max: number };
  /** Whether the first input is a base model that deltas are taken against. */
  needsBase: boolean;
  params: readonly ParamDef[];
  /**
   * The CPU reference: one tensor's inputs (base first when needsBase) to its output. Pure and
   * deterministic given (inputs, params, ctx.seed, ctx.name). The oracle for the GPU kernels.
   */
  cpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array;
  /**
   * The GPU kernel family that implements this operator in src/gpu (several operators share one),
   * with the settings that family is configured by; absent for an operator with no GPU kernel.
   * The GPU backend looks kernels up by `kernel.id`.
   */
  kernel?: KernelSpec;
  /** Whether every element depends only on the same element of the inputs (so chunks may be computed apart). */
  elementwise?: boolean;
  /**
   * Which tensors the operator changes. Returns null to run, or the reason a tensor is passed
   * through unchanged (copied from the first input). Non-float tensors are always passed through.
   */
  skip?(t: TensorInfo, params: RecipeParams): string | null;
  /**
   * A model-level pre-pass (on the host, before any tensor runs): derived parameters per tensor
   * name, merged over the resolved user parameters (e.g. a model-wide TIES trim cutoff).
   */
  prepare?(model: ModelView, params: RecipeParams, seed: number): Record<string, ParamValues>;
  /**
   * How an output tensor is stored when it is not simply re-encoded in the first input's dtype
   * (quantize stores "<name>.q" and "<name>.scales"). Receives the tensor's inputs and its output.
   */
  store?(t: TensorInfo, inputs: readonly Float32Array[], out: Float32Array, params: ParamValues): Tensor[];
  /** Extra `.slm` metadata a candidate made by this operator carries (e.g. the quantization block size). */
  metadata?(params: RecipeParams): Record<string, string>;
  /**
   * Operators that route tensors rather than combine them (passthrough's layer slices): which
   * parent's tensor becomes which output tensor. breed() then runs `cpu` on that one input per
   * output tensor, with each per-parent parameter resolved to the routed parent's value; the
   * parents need not match each other tensor by tensor.
   */
  layout?(parents: readonly (readonly TensorInfo[])[], params: RecipeParams): TensorLayout;
}
