import { describe, expect, it } from 'vitest';
import { gradientValue, layerNumber, layerPositions, paramsAt, resolveParams } from './params.ts';
import { getOperator } from './registry.ts';

describe('layer gradients', () => {
  it('reads layer numbers from names', () => {
    expect(layerNumber('model.layers.7.mlp.weight')).toBe(7);
    expect(layerNumber('fc2.weight')).toBe(2);
    expect(layerNumber('h3.bias')).toBe(3);
    expect(layerNumber('embed.weight')).toBeNull();
  });

  it('places layers by rank on [0, 1]; unnumbered tensors at 0 and a single layer at 1, as mergekit plans them', () => {
    const names = ['embed', 'layers.0.w', 'layers.0.b', 'layers.10.w', 'layers.2.w', 'norm', 'head'];
    expect(layerPositions(names)).toEqual([0, 0, 0, 1, 0.5, 0, 0]);
    expect(layerPositions(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'])).toEqual([0, 0, 1, 1]);
    expect(layerPositions(['a', 'b'])).toEqual([0, 0]);
    expect(layerPositions(['embed', 'layers.3.w', 'head'])).toEqual([0, 1, 0]);
  });

  it('interpolates anchors linearly', () => {
    expect(gradientValue([0, 1], 0.25)).toBe(0.25);
    expect(gradientValue([0, 1, 0], 0.25)).toBe(0.5);
    expect(gradientValue([0, 1, 0], 0.75)).toBe(0.5);
    expect(gradientValue([0.2, 0.8], 1)).toBe(0.8);
    expect(gradientValue([0.3], 0.9)).toBe(0.3);
  });

  it('resolves a gradient per tensor, leaving per-model lists alone', () => {
    const op = getOperator('slerp');
    const p = resolveParams(op, { t: [0, 1] }, 2);
    expect(paramsAt(op, p, 0.5)).toEqual({ t: 0.5 });
    const ties = getOperator('ties');
    const q = resolveParams(ties, { weights: [1, 2], density: [0.2, 0.6] }, 2);
    expect(paramsAt(ties, q, 0.5)).toMatchObject({ weights: [1, 2], density: 0.4 });
    expect(() => resolveParams(op, { t: [0, 2] }, 2)).toThrow(/"t"\[1\] is 2, above the maximum 1/);
  });
});
