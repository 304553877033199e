/**
 * Labels for a scatter, placed without overlap: each label beside its point on the first free
 * spot of rings around it (eight directions, further out ring by ring), where it covers no other
 * label, no point and no line drawn between points, and stays inside the plot. A label moved off its first ring is joined to its
 * point by a leader line. Labels are placed in the order given (put the important ones first);
 * one that finds no free spot within the rings is left out (its point keeps its tooltip and row).
 */
export interface LabelInput {
  /** The point's centre. */
  cx: number;
  cy: number;
  /** The label's size. */
  w: number;
  h: number;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface PlacedLabel {
  /** Top-left corner of the label. */
  x: number;
  y: number;
  /** True when the label sits off its first ring: draw a line from the point to it. */
  leader: boolean;
}

export interface PlacementOptions {
  /** Radius kept clear around every point. */
  pointRadius: number;
  /** Gap between a point and its label on the first ring; each further ring adds it again. */
  gap: number;
  rings: number;
  /** Lines a label must not cover (the front's polyline), as [x1, y1, x2, y2]. */
  segments?: readonly (readonly [number, number, number, number])[];
}

type Rect = [number, number, number, number];

const overlaps = (a: Rect, b: Rect) => a[0] < b[2] && a[2] > b[0] && a[1] < b[3] && a[3] > b[1];

/** Whether a rectangle covers a disc (the nearest point of the rectangle lies inside it). */
function coversDisc(r: Rect, cx: number, cy: number, radius: number): boolean {
  const dx = cx - Math.max(r[0], Math.min(cx, r[2]));
  const dy = cy - Math.max(r[1], Math.min(cy, r[3]));
  return dx * dx + dy * dy < radius * radius;
}

/** Whether a segment passes through a rectangle (sampled every pixel along it). */
function crosses(r: Rect, [x1, y1, x2, y2]: readonly [number, number, number, number]): boolean {
  const n = Math.max(1, Math.ceil(Math.hypot(x2 - x1, y2 - y1)));
  for (let i = 0; i <= n; i++) {
    const x = x1 + ((x2 - x1) * i) / n;
    const y = y1 + ((y2 - y1) * i) / n;
    if (x > r[0] && x < r[2] && y > r[1] && y < r[3]) return true;
  }
  return false;
}

/** Place every label (null for one left out), in the order given. */
export function placeLabels(labels: readonly LabelInput[], box: Box, opts: PlacementOptions): (PlacedLabel | null)[] {
  const placed: Rect[] = [];
  const inside = (r: Rect) => r[0] >= box.left && r[2] <= box.left + box.width && r[1] >= box.top && r[3] <= box.top + box.height;
  return labels.map((l) => {
    for (let ring = 1; ring <= opts.rings; ring++) {
      const d = opts.pointRadius + opts.gap * ring;
      // Right, left, above-right, below-right, above-left, below-left, above, below.
      const spots: [number, number][] = [
        [l.cx + d, l.cy - l.h / 2],
        [l.cx - d - l.w, l.cy - l.h / 2],
        [l.cx + d * 0.7, l.cy - d * 0.7 - l.h],
        [l.cx + d * 0.7, l.cy + d * 0.7],
        [l.cx - d * 0.7 - l.w, l.cy - d * 0.7 - l.h],
        [l.cx - d * 0.7 - l.w, l.cy + d * 0.7],
        [l.cx - l.w / 2, l.cy - d - l.h],
        [l.cx - l.w / 2, l.cy + d],
      ];
      for (const [x, y] of spots) {
        const r: Rect = [x, y, x + l.w, y + l.h];
        if (
          !inside(r) ||
          placed.some((p) => overlaps(p, r)) ||
          labels.some((o) => coversDisc(r, o.cx, o.cy, opts.pointRadius)) ||
          opts.segments?.some((sg) => crosses(r, sg))
        )
          continue;
        placed.push(r);
        return { x, y, leader: ring > 1 };
      }
    }
    return null;
  });
}
