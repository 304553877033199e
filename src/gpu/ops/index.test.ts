import { describe, expect, it } from 'vitest';
import { getOperator, listOperators, OPERATOR_IDS, OPERATORS } from '../../core/operators/registry.ts';
import { KERNEL_IDS, isKernelId, type OperatorDef } from '../../core/operators/types.ts';
import { GPU_KERNELS, GPU_OPERATOR_IDS, hasGpuKernel, kernelFor } from './index.ts';

describe('the GPU kernel table is keyed by the registry', () => {
  it('has exactly one stage per kernel id, and each stage names its own key', () => {
    expect(Object.keys(GPU_KERNELS).sort()).toEqual([...KERNEL_IDS].sort());
    for (const id of KERNEL_IDS) expect(GPU_KERNELS[id].id).toBe(id);
    expect(Object.isFrozen(GPU_KERNELS)).toBe(true);
  });

  it('every registry operator runs on the stage its `kernel` field names; the id lists are derived', () => {
    for (const op of listOperators()) {
      // An operator without a `kernel` would have no GPU path.
      expect(kernelFor(op)).toBe(op.kernel ? GPU_KERNELS[op.kernel.id] : null);
      expect(hasGpuKernel(op.id)).toBe(op.kernel !== undefined);
    }
    expect(hasGpuKernel('della')).toBe(true);
    expect(hasGpuKernel('breadcrumbs')).toBe(true);
    expect(GPU_OPERATOR_IDS).toEqual(OPERATOR_IDS.filter((id) => OPERATORS[id].kernel !== undefined));
    // soup has no stage of its own: it is declared on the blend kernel.
    expect(kernelFor(getOperator('soup'))).toBe(GPU_KERNELS.blend);
    expect(isKernelId('soup')).toBe(false);
  });

  it('a new operator declared with an existing kernel id finds its stage with no second list', () => {
    const fresh: OperatorDef = { ...getOperator('blend'), id: 'weighted-average-2' };
    expect(kernelFor(fresh)).toBe(GPU_KERNELS.blend);
    const family: OperatorDef = {
      ...getOperator('ties'),
      id: 'breadcrumbs-like',
      kernel: { id: 'task-arithmetic', cfg: { sparsify: 'magnitude', consensus: 'none' } },
    };
    expect(kernelFor(family)).toBe(GPU_KERNELS['task-arithmetic']);
    const none: OperatorDef = { ...getOperator('blend'), id: 'cpu-only', kernel: undefined };
    expect(kernelFor(none)).toBeNull();
  });

  it('ids outside the registry have no kernel, whatever their name', () => {
    for (const id of ['no-such-operator', 'task-arithmetic', '__proto__', 'constructor', 'toString']) expect(hasGpuKernel(id)).toBe(false);
  });
});
