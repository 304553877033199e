/**
 * Charts for the operator visuals: histograms drawn by uPlot (bars over the bin centres, one
 * series each) and heatmaps of a mask drawn pixel by pixel on a canvas (a mask is an image, not
 * a chart: each cell is the mean of its block of weights).
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Heatmap } from '../../core/operators/visualize.ts';
import { fittedRange, tickLabels } from '../chart-range.ts';

export interface Series {
  label: string;
  counts: number[];
  color: string;
}

/** What every chart here shares: a legend, a cursor without points, a plain x scale and y from 0 to a little over the top. */
function frame(width: number, height: number, floor: number, headroom: number) {
  return {
    width,
    height,
    legend: { show: true, live: false },
    cursor: { show: true, points: { show: false } },
    scales: {
      x: { time: false },
      y: { range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, Math.max(floor, max) * headroom] },
    },
  };
}

export function HistogramChart({
  edges,
  series,
  label,
  width = 460,
  height = 180,
}: {
  edges: number[];
  series: Series[];
  label: string;
  width?: number;
  height?: number;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const centres = edges.slice(0, -1).map((e, i) => (e + edges[i + 1]) / 2);
    const bars = uPlot.paths.bars!({ size: [0.9, Infinity], align: 0 });
    const plot = new uPlot(
      {
        ...frame(width, height, 1, 1.05),
        axes: [
          { size: 34, values: (_u, ticks) => ticks.map((t) => (Math.abs(t) >= 1 || t === 0 ? t.toFixed(1) : t.toPrecision(2))) },
          { size: 60 },
        ],
        series: [
          { label: 'value' },
          ...series.map((s) => ({ label: s.label, stroke: s.color, fill: `${s.color}55`, paths: bars, points: { show: false } })),
        ],
      },
      [centres, ...series.map((s) => s.counts)],
      el,
    );
    return () => plot.destroy();
  }, [edges, series, width, height]);
  return <div ref={ref} role="img" aria-label={label} className="chart" />;
}

/** A heatmap of values in [0, 1] (or −1..1 with `diverging`), scaled up with crisp pixels. */
export function HeatmapCanvas({
  map,
  label,
  color = [31, 81, 53],
  testId,
}: {
  map: Heatmap;
  label: string;
  color?: [number, number, number];
  testId?: string;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    c.width = map.cols;
    c.height = map.rows;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const img = ctx.createImageData(map.cols, map.rows);
    map.cells.forEach((v, k) => {
      const a = Math.max(0, Math.min(1, v));
      img.data[4 * k] = Math.round(255 - a * (255 - color[0]));
      img.data[4 * k + 1] = Math.round(255 - a * (255 - color[1]));
      img.data[4 * k + 2] = Math.round(255 - a * (255 - color[2]));
      img.data[4 * k + 3] = 255;
    });
    ctx.putImageData(img, 0, 0);
  }, [map, color]);
  const scale = Math.max(1, Math.floor(192 / Math.max(map.rows, map.cols)));
  return (
    <figure className="heatmap">
      <canvas
        ref={ref}
        role="img"
        aria-label={`${label}: ${(map.mean * 100).toFixed(1)} % on average`}
        data-testid={testId}
        style={{ width: map.cols * scale, height: map.rows * scale }}
      />
      <figcaption>
        {label} · {(map.mean * 100).toFixed(1)} %
        {map.rows < map.sourceRows || map.cols < map.sourceCols
          ? ` (${map.sourceRows}×${map.sourceCols} weights in ${map.rows}×${map.cols} blocks)`
          : ''}
      </figcaption>
    </figure>
  );
}

/**
 * A training run's loss curve: the training loss of every step and the validation loss at the end
 * of each epoch, on one step axis, its y-axis fitted to the losses. The plot is made once and given new data as the run goes.
 */
export function LossChart({
  train,
  validation,
  label,
  testId,
  width = 520,
  height = 220,
}: {
  train: readonly { step: number; loss: number }[];
  validation: readonly { step: number; loss: number }[];
  label: string;
  testId?: string;
  width?: number;
  height?: number;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    plot.current = new uPlot(
      {
        ...frame(width, height, 1e-4, 1.08),
        // y fitted to the losses with a little padding (chart-range.ts), not from 0.
        scales: { x: { time: false }, y: { range: (_u, min, max) => fittedRange(min, max) } },
        axes: [
          { size: 34, label: 'step' },
          { size: 60, values: (_u, ticks) => tickLabels(ticks) },
        ],
        series: [
          { label: 'step' },
          { label: 'train loss', stroke: '#3f8a5c', width: 1.5, points: { show: false } },
          { label: 'validation loss', stroke: '#a35a00', width: 2, spanGaps: true, points: { show: true, size: 5 } },
        ],
      },
      [[], [], []],
      el,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [width, height]);
  useEffect(() => {
    const val = new Map(validation.map((v) => [v.step, v.loss]));
    const steps = train.map((t) => t.step);
    plot.current?.setData([steps, train.map((t) => t.loss), steps.map((s) => val.get(s) ?? null)]);
  }, [train, validation, width, height]);
  return <div ref={ref} role="img" aria-label={label} className="chart" data-testid={testId} />;
}
