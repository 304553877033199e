/**
 * The loss curve's y-axis (components/Charts.tsx LossChart): fitted to the data with a little
 * padding rather than drawn from 0, so a loss that moves between 4.80 and 4.86 is not a flat line
 * at the top of the chart; never below 0 when the data is not (a loss is not negative). Its tick
 * labels carry as many decimals as the tick spacing needs.
 */

/** The y range for data from `min` to `max` (null: no data yet), padded by `pad` of the span on each side. */
export function fittedRange(min: number | null, max: number | null, pad = 0.08): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  // A flat curve gets a span of its own size (or 1e-4 about 0), so it sits mid-chart.
  const span = max - min > 0 ? max - min : Math.max(Math.abs(max), 1e-4);
  const lo = min - pad * span;
  return [min >= 0 ? Math.max(0, lo) : lo, max + pad * span];
}

/** Tick labels with the decimals their spacing needs (0.0005 apart: "0.0030"; 0.02 apart: "4.78"). */
export function tickLabels(ticks: readonly number[]): string[] {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 0;
  const decimals = step > 0 ? Math.min(8, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9))) : 2;
  return ticks.map((t) => (t === 0 ? '0' : t.toFixed(decimals)));
}
