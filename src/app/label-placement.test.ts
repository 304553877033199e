import { describe, expect, it } from 'vitest';
import { placeLabels, type LabelInput } from './label-placement.ts';

const box = { left: 0, top: 0, width: 400, height: 300 };
const opts = { pointRadius: 6, gap: 6, rings: 6 };

function rectsOf(labels: LabelInput[]) {
  return placeLabels(labels, box, opts).map((p, i) => (p ? { ...p, w: labels[i].w, h: labels[i].h } : null));
}

describe('placeLabels', () => {
  it('puts a lone label on the first ring to the right of its point, with no leader', () => {
    expect(placeLabels([{ cx: 100, cy: 100, w: 40, h: 12 }], box, opts)).toEqual([{ x: 112, y: 94, leader: false }]);
  });

  it('keeps labels apart, off every point and inside the plot, for a dense cluster', () => {
    const labels: LabelInput[] = Array.from({ length: 9 }, (_, i) => ({
      cx: 200 + (i % 3) * 10,
      cy: 150 + Math.floor(i / 3) * 10,
      w: 60,
      h: 12,
    }));
    const placed = rectsOf(labels);
    const shown = placed.filter((p) => p !== null);
    expect(shown.length).toBeGreaterThanOrEqual(7);
    for (const [i, a] of shown.entries()) {
      expect(a.x).toBeGreaterThanOrEqual(0);
      expect(a.x + a.w).toBeLessThanOrEqual(400);
      for (const b of shown.slice(i + 1)) expect(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y).toBe(true);
      for (const l of labels) {
        const dx = l.cx - Math.max(a.x, Math.min(l.cx, a.x + a.w));
        const dy = l.cy - Math.max(a.y, Math.min(l.cy, a.y + a.h));
        expect(dx * dx + dy * dy).toBeGreaterThanOrEqual(opts.pointRadius ** 2);
      }
    }
    // Some had to move out a ring: they carry a leader line.
    expect(shown.some((p) => p.leader)).toBe(true);
  });

  it('keeps a label off a line drawn through its first spot', () => {
    const line = [[100, 80, 200, 120]] as const;
    const [p] = placeLabels([{ cx: 100, cy: 100, w: 40, h: 12 }], box, { ...opts, segments: line });
    expect(p).not.toEqual({ x: 112, y: 94, leader: false });
    // Wherever it went, no sample of the line lies inside it.
    for (let t = 0; t <= 1; t += 0.01) {
      const [x, y] = [100 + 100 * t, 80 + 40 * t];
      expect(x > p!.x && x < p!.x + 40 && y > p!.y && y < p!.y + 12).toBe(false);
    }
  });

  it('turns a label inward at the plot edge, and leaves out one with no room', () => {
    expect(placeLabels([{ cx: 395, cy: 150, w: 60, h: 12 }], box, opts)[0]).toEqual({ x: 395 - 12 - 60, y: 144, leader: false });
    const tiny = { left: 0, top: 0, width: 30, height: 20 };
    expect(placeLabels([{ cx: 15, cy: 10, w: 60, h: 12 }], tiny, opts)).toEqual([null]);
  });
});
