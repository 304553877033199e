/** Shared by the tests of mergekit's other methods: run an operator's CPU reference with resolved parameters. */
import { getOperator } from './registry.ts';
import { resolveParams } from './params.ts';
import type { ParamValues, TensorContext } from './types.ts';

export function runOp(
  id: string,
  inputs: readonly Float32Array[],
  params: ParamValues = {},
  ctx: Partial<TensorContext> = {},
): Float32Array {
  const op = getOperator(id);
  const p = resolveParams(op, params, inputs.length - (op.needsBase ? 1 : 0));
  return op.cpu(inputs, p, { name: 'layers.0.weight', shape: [inputs[0].length], seed: 1, ...ctx });
}

export const f32 = (xs: readonly number[]) => Float32Array.from(xs);

/** Distance in float32 units in the last place (0 for equal values, both zeros equal). */
export function ulps(a: number, b: number): number {
  if (a === b) return 0;
  const F = new Float32Array([a, b]);
  const I = new Int32Array(F.buffer);
  const key = (i: number) => (i < 0 ? 0x80000000 - i : i + 0x80000000);
  return Math.abs(key(I[0]) - key(I[1]));
}
