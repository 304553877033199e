/**
 * The operator registry: one const table, every operator declared once as data.
 */
import type { OperatorDef } from './types.ts';
import { blendCpu } from './blend.cpu.ts';

export const OPERATORS = Object.freeze({
  blend: {
    id: 'blend',
    version: '1.0.0',
    name: 'Blend',
    description: 'A weighted average of the parents, tensor by tensor. Weights are divided by their sum unless normalise is off.',
    reference: 'Model soups (Wortsman et al., 2022); mergekit "linear"',
    parents: { min: 2, max: 16 },
    needsBase: false,
    params: [
      { name: 'weights', type: 'weights', scope: 'perModel', description: 'One weight per parent', min: -10, max: 10 },
      { name: 'normalize', type: 'boolean', scope: 'global', description: 'Divide weights by their sum', default: true },
    ],
    cpu: (inputs, params) => blendCpu(inputs, params),
  },
} as const satisfies Record<string, OperatorDef>);

export type OperatorId = keyof typeof OPERATORS;

export function getOperator(id: string): OperatorDef {
  if (!Object.prototype.hasOwnProperty.call(OPERATORS, id)) {
    throw new Error(`unknown operator "${id}"; valid: ${Object.keys(OPERATORS).join(', ')}`);
  }
  return OPERATORS[id as OperatorId];
}
