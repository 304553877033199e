import { describe, expect, it } from 'vitest';
import { toImage28 } from './image28.ts';

describe('toImage28', () => {
  it('gives zeros for an empty drawing', () => {
    expect(toImage28(new Uint8Array(100 * 100), 100, 100).every((v) => v === 0)).toBe(true);
  });
  it('scales a vertical stroke to 20 rows and centres it by mass', () => {
    const w = 200,
      h = 200,
      g = new Uint8Array(w * h);
    for (let y = 20; y < 180; y++) for (let x = 95; x < 105; x++) g[y * w + x] = 255;
    const img = toImage28(g, w, h);
    const rows = new Set<number>(),
      cols = new Set<number>();
    img.forEach((v, i) => {
      if (v > 0.5) {
        rows.add(Math.floor(i / 28));
        cols.add(i % 28);
      }
    });
    expect(rows.size).toBe(20);
    const mid = (Math.min(...rows) + Math.max(...rows)) / 2;
    expect(Math.abs(mid - 14)).toBeLessThanOrEqual(0.5);
    expect([...cols].every((c) => c >= 13 && c <= 15)).toBe(true);
  });
});
