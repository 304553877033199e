/**
 * A test driver (task-arithmetic-kernel.test.ts, della-kernel.test.ts): a range kernel's reduce
 * plan run as a pool runs it, in-process. Range passes go over `bounds`, passes split by parent
 * over `workers` parts, and every carry and partial goes through structured clone, as they travel
 * between threads.
 */
import type { ReducePlan } from '../core/operators/fast/kernels.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';

/** The parameters the plan derives, and each pass's stage name (its carry's `stage`, where it has one). */
export function reduceSplit(
  plan: ReducePlan,
  inputs: readonly Float32Array[],
  params: ParamValues,
  ctx: TensorContext,
  bounds: number[],
  workers: number,
): { derived: ParamValues; stages: string[] } {
  const n = inputs[0].length;
  const ranges = bounds.slice(1).map((e, i) => [bounds[i], e] as const);
  const stages: string[] = [];
  let step = plan.start(inputs, params, ctx);
  for (let pass = 0; 'carry' in step; pass++) {
    const parts = step.split === 'parents' ? Array.from({ length: Math.min(workers, inputs.length - 1) }, () => [0, n] as const) : ranges;
    const carry = step.carry;
    stages.push(String((carry as { stage?: unknown } | null)?.stage));
    const partials = parts.map(([s, e], t) =>
      structuredClone(plan.partial(pass, structuredClone(carry), inputs, params, ctx, s, e, { index: t, count: parts.length })),
    );
    step = plan.merge(pass, carry, partials, parts, inputs, params, ctx);
  }
  return { derived: step.params, stages };
}
