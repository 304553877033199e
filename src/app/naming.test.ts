import { describe, expect, it } from 'vitest';
import { byCreation, candidateName } from './naming.ts';
import { getOperator } from '../core/operators/registry.ts';

describe('candidate names and order', () => {
  it('names a candidate by its operator and the parameters it ran with', () => {
    expect(candidateName(3, getOperator('ties'), { density: 0.2, lambda: 1, normalize: true, trimScope: 'tensor' }, 7)).toBe(
      '#3 TIES merge · lambda 1, normalize on, density 0.2, trimScope tensor · seed 7',
    );
    expect(candidateName(1, getOperator('blend'), { weights: [1, 0.25], normalize: true }, 1)).toBe(
      '#1 Blend · weights 1/0.25, normalize on · seed 1',
    );
  });

  it('sorts by creation: the base, the other starters, then Candidate 2 before Candidate 10', () => {
    const made = Array.from({ length: 11 }, (_, i) => ({
      name: `#${i + 1}`,
      role: 'candidate',
      createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    }));
    const starters = [
      { name: 'rotated', role: 'specialist' },
      { name: 'base', role: 'base' },
    ];
    // Shuffled and sorted by name, as a store might list them: #1, #10, #11, #2, …
    const listed = [...made].sort((a, b) => a.name.localeCompare(b.name));
    const order = byCreation([...listed, ...starters]).map((m) => m.name);
    expect(order).toEqual(['base', 'rotated', ...made.map((m) => m.name)]);
  });
});
