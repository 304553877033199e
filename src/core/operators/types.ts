/**
 * How an operator is declared: once, as data. The UI, the CLI, the policy allowlist and the GPU
 * kernels all read the same table (src/core/operators/registry.ts).
 */

export const PARAM_TYPES = Object.freeze(['number', 'integer', 'boolean', 'enum', 'weights'] as const);
export type ParamType = (typeof PARAM_TYPES)[number];

export interface ParamDef {
  name: string;
  type: ParamType;
  description: string;
  /** 'global' applies to the whole recipe; 'perModel' takes one value per parent. */
  scope: 'global' | 'perModel';
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
}

/** Resolved parameter values: numbers, booleans, strings, or per-parent number lists. */
export type ParamValues = Record<string, number | boolean | string | number[]>;

export interface OperatorDef {
  id: string;
  version: string;
  name: string;
  description: string;
  /** Paper or tool this follows, for the curious. */
  reference?: string;
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
}
