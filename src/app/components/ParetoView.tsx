import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useGarden } from '../state.ts';
import { byCreation } from '../naming.ts';
import { objectiveAxes, paretoPoints, type Axis, type ParetoPoint } from '../garden-view.ts';
import { placeLabels } from '../label-placement.ts';
import './garden-view.css';

const FRONT = '#1f5135';
const REST = '#8a8f8b';

/** An axis value as the table and the chart's tooltip show it (with fewer digits on the ticks). */
function show(axis: Axis, v: number, tick = false): string {
  if (axis.id === 'bytes') return `${v} B`;
  if (axis.id === 'latency') return `${v.toFixed(tick ? 3 : 4)} ms`;
  return `${(v * 100).toFixed(tick ? 1 : 2)} %`;
}

const shortName = (name: string) => name.split(' · ')[0];

/** The points as a uPlot scatter: one series per model (so a point is a point), the front joined by a line, the labels placed without overlap (label-placement.ts). */
function Scatter({ points, x, y }: { points: ParetoPoint[]; x: Axis; y: Axis }) {
  const ref = useRef<HTMLDivElement>(null);
  const [tip, setTip] = useState<{ left: number; top: number; p: ParetoPoint } | null>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || !points.length) return;
    const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
    const at = (p: ParetoPoint) => xs.indexOf(p.x);
    const column = (only: ParetoPoint[]) => {
      const ys: (number | null)[] = xs.map(() => null);
      for (const p of only) ys[at(p)] = p.y;
      return ys;
    };
    const front = points.filter((p) => p.front);
    const pad = (min: number, max: number): [number, number] => {
      const d = max - min || Math.abs(max) * 0.05 || 1;
      return [min - d * 0.12, max + d * 0.12];
    };
    const plot = new uPlot(
      {
        width: Math.min(640, el.clientWidth || 640),
        height: 300,
        legend: { show: false },
        cursor: { points: { show: false }, drag: { x: false, y: false } },
        scales: { x: { time: false, range: (_u, lo, hi) => pad(lo, hi) }, y: { range: (_u, lo, hi) => pad(lo, hi) } },
        axes: [
          { label: x.label, size: 40, values: (_u, ticks) => ticks.map((t) => show(x, t, true)) },
          { label: y.label, size: 80, values: (_u, ticks) => ticks.map((t) => show(y, t, true)) },
        ],
        series: [
          {},
          { label: 'front', stroke: FRONT, width: 1.5, dash: [6, 4], spanGaps: true, points: { show: false } },
          ...points.map((p) => ({
            label: p.name,
            stroke: p.front ? FRONT : REST,
            fill: p.front ? FRONT : '#ffffff',
            points: { show: true, size: p.front ? 12 : 9, width: 2, stroke: p.front ? FRONT : REST, fill: p.front ? FRONT : '#ffffff' },
            paths: () => null,
          })),
        ],
        hooks: {
          draw: [
            (u) => {
              const ctx = u.ctx;
              ctx.save();
              const r = devicePixelRatio;
              const h = 12 * r;
              ctx.font = `${h}px system-ui, sans-serif`;
              // uPlot leaves the axes' alignment set: the spots are top-left corners.
              ctx.textAlign = 'left';
              ctx.textBaseline = 'top';
              // The front's labels first: when the plot is crowded, a dominated point's label is the one left out.
              const order = [...points.filter((p) => p.front), ...points.filter((p) => !p.front)];
              const texts = order.map((p) => shortName(p.name));
              // The dashed line joins the front in x order: labels keep off it too.
              const joined = front
                .map((p) => [u.valToPos(p.x, 'x', true), u.valToPos(p.y, 'y', true)] as const)
                .sort((a, b) => a[0] - b[0]);
              const frontLine = joined.slice(1).map((q, i) => [...joined[i], ...q] as const);
              const spots = placeLabels(
                order.map((p, i) => ({
                  cx: u.valToPos(p.x, 'x', true),
                  cy: u.valToPos(p.y, 'y', true),
                  w: ctx.measureText(texts[i]).width,
                  h,
                })),
                u.bbox,
                { pointRadius: 7 * r, gap: 5 * r, rings: 6, segments: frontLine },
              );
              ctx.strokeStyle = REST;
              ctx.lineWidth = r;
              spots.forEach((spot, i) => {
                if (!spot) return;
                const p = order[i];
                if (spot.leader) {
                  const cx = u.valToPos(p.x, 'x', true);
                  const cy = u.valToPos(p.y, 'y', true);
                  const w = ctx.measureText(texts[i]).width;
                  // From the point's edge to the nearest point of the label.
                  const tx = Math.max(spot.x, Math.min(cx, spot.x + w));
                  const ty = Math.max(spot.y, Math.min(cy, spot.y + h));
                  const len = Math.hypot(tx - cx, ty - cy) || 1;
                  ctx.beginPath();
                  ctx.moveTo(cx + ((tx - cx) / len) * 7 * r, cy + ((ty - cy) / len) * 7 * r);
                  ctx.lineTo(tx, ty);
                  ctx.stroke();
                }
                ctx.fillStyle = '#1d2a22';
                ctx.fillText(texts[i], spot.x, spot.y);
              });
              u.root.dataset.labels = String(spots.filter(Boolean).length);
              ctx.restore();
            },
          ],
          setCursor: [
            (u) => {
              const { left, top } = u.cursor;
              if (left === undefined || top === undefined || left < 0) return setTip(null);
              let best: ParetoPoint | null = null;
              let dist = 14 * 14;
              for (const p of points) {
                const d = (u.valToPos(p.x, 'x') - left) ** 2 + (u.valToPos(p.y, 'y') - top) ** 2;
                if (d < dist) [best, dist] = [p, d];
              }
              setTip(
                best
                  ? { left: u.valToPos(best.x, 'x') + u.over.offsetLeft, top: u.valToPos(best.y, 'y') + u.over.offsetTop, p: best }
                  : null,
              );
            },
          ],
        },
      },
      [xs, column(front), ...points.map((p) => column([p]))],
      el,
    );
    return () => plot.destroy();
  }, [points, x, y]);
  return (
    <div className="pareto-chart">
      <div
        ref={ref}
        role="img"
        aria-label={`Scatter of ${points.length} models, ${x.label} against ${y.label}; on the front: ${points
          .filter((p) => p.front)
          .map((p) => p.name)
          .join(', ')}`}
        data-testid="pareto-chart"
      />
      {tip && (
        <div className="pareto-tip" style={{ left: tip.left, top: tip.top }} data-testid="pareto-tip">
          <strong>{tip.p.name}</strong>
          <br />
          {show(x, tip.p.x)} · {show(y, tip.p.y)}
          {tip.p.front ? ' · on the front' : ''}
        </div>
      )}
    </div>
  );
}

/**
 * The population review over two objectives the user picks: each model a point, the
 * non-dominated front (no other model is at least as good on both and better on one) highlighted,
 * computed by the lab core's nonDominatedFronts. The table beside it holds the same numbers.
 */
export function ParetoView() {
  const policy = useGarden((s) => s.policy);
  const models = useGarden((s) => s.models);
  const evidence = useGarden((s) => s.evidence);
  const axes = useMemo(() => (policy ? objectiveAxes(policy) : []), [policy]);
  const [xId, setX] = useState<string | null>(null);
  const [yId, setY] = useState<string | null>(null);
  const x = axes.find((a) => a.id === xId) ?? axes[0];
  const y = axes.find((a) => a.id === yId) ?? axes[1];
  const { points, unscored } = useMemo(
    () => (x && y ? paretoPoints(byCreation(models), evidence, x, y) : { points: [], unscored: [] }),
    [models, evidence, x, y],
  );
  if (!x || !y) return null;
  const front = points.filter((p) => p.front);
  const pickAxis = (label: string, value: Axis, onChange: (id: string) => void, testId: string) => (
    <label>
      {label}{' '}
      <select value={value.id} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
        {axes.map((a) => (
          <option key={a.id} value={a.id}>
            {a.label} ({a.direction === 'max' ? 'higher is better' : 'lower is better'})
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section className="step" aria-labelledby="pareto-h" data-testid="pareto-panel">
      <h2 id="pareto-h">
        <span className="num">G</span> The garden: population review
      </h2>
      <p className="hint">
        Each model over two objectives. The front (dark, joined) holds the models no other model beats on both: at least as good on each,
        better on one.
      </p>
      <div className="row">
        {pickAxis('Across', x, setX, 'pareto-x')}
        {pickAxis('Up', y, setY, 'pareto-y')}
      </div>
      {points.length ? <Scatter points={points} x={x} y={y} /> : <p className="hint">No model is scored on both yet.</p>}
      <p data-testid="pareto-front">
        On the front ({front.length} of {points.length}): {front.map((p) => p.name).join('; ') || '—'}
      </p>
      {unscored.length > 0 && <p className="hint">Not scored on both yet: {unscored.join(', ')}</p>}
      <table className="registry pareto-table" data-testid="pareto-table">
        <caption className="hint">The points of the chart</caption>
        <thead>
          <tr>
            <th scope="col">model</th>
            <th scope="col">{x.label}</th>
            <th scope="col">{y.label}</th>
            <th scope="col">front</th>
          </tr>
        </thead>
        <tbody>
          {points.map((p) => (
            <tr key={p.id} data-testid={`pareto-row-${p.id}`} data-x={p.x} data-y={p.y} data-front={p.front}>
              <th scope="row">{p.name}</th>
              <td>{show(x, p.x)}</td>
              <td>{show(y, p.y)}</td>
              <td>{p.front ? 'on the front' : 'dominated'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
