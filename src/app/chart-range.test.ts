import { describe, expect, it } from 'vitest';
import { fittedRange, tickLabels } from './chart-range.ts';

describe('the loss chart y range', () => {
  it('fits the data with padding instead of starting at 0', () => {
    const [lo, hi] = fittedRange(4.8, 4.86);
    expect(lo).toBeCloseTo(4.8 - 0.08 * 0.06, 10);
    expect(hi).toBeCloseTo(4.86 + 0.08 * 0.06, 10);
    // The data fills most of the height: 0.06 of a 0.0696 span.
    expect(0.06 / (hi - lo)).toBeGreaterThan(0.85);
  });

  it('stays at or above 0 for losses near 0, centres a flat curve, and has a range with no data', () => {
    expect(fittedRange(0.001, 2)[0]).toBe(0);
    expect(fittedRange(4.8, 4.8)).toEqual([4.8 - 0.08 * 4.8, 4.8 + 0.08 * 4.8]);
    expect(fittedRange(0, 0)).toEqual([0, 0.08 * 1e-4]);
    expect(fittedRange(null, null)).toEqual([0, 1]);
    expect(fittedRange(-2, -1)).toEqual([-2.08, -0.92]);
  });

  it('labels ticks with the decimals their spacing needs', () => {
    expect(tickLabels([4.78, 4.8, 4.82])).toEqual(['4.78', '4.80', '4.82']);
    expect(tickLabels([0, 0.0005, 0.001])).toEqual(['0', '0.0005', '0.0010']);
    expect(tickLabels([0, 1, 2])).toEqual(['0', '1', '2']);
  });
});
