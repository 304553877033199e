/** Shared fixtures for the training tests (not imported by production code). */
import { mulberry32 } from '../seeded.ts';
import { Tape, type Value } from './tape.ts';

export function randoms(n: number, seed: number, scale = 1): Float64Array {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** Σ x ⊙ w for a fixed w: turns any op's output into a scalar whose gradient is w. */
export function project(x: Value, w: ArrayLike<number>): Value {
  const out = x.tape.alloc(1);
  let s = 0;
  for (let i = 0; i < x.size; i++) s += x.data[i] * w[i];
  out[0] = s;
  return x.tape.result(out, 1, 1, [x], (o) => {
    const g = x.gradBuf();
    for (let i = 0; i < x.size; i++) g[i] += o.grad![0] * w[i];
  });
}

export interface LeafSpec {
  data: Float64Array;
  rows: number;
  cols: number;
}

/**
 * Worst disagreement between backward's gradients and central finite differences
 * (f(x + h) − f(x − h)) / 2h, all in float64: max over elements of |a − n| / max(1, |a|, |n|).
 */
export function gradCheck(
  leaves: readonly LeafSpec[],
  f: (vs: Value[]) => Value,
  h = 1e-5,
): { worst: number; where: string; checked: number } {
  const run = (datas: Float64Array[]) => {
    const t = new Tape('f64');
    const vs = datas.map((d, k) => t.leaf(d, leaves[k].rows, leaves[k].cols, true, `leaf${k}`));
    const loss = f(vs);
    return { t, vs, loss };
  };
  const base = run(leaves.map((l) => l.data));
  base.t.backward(base.loss);
  let worst = 0;
  let where = '';
  let checked = 0;
  leaves.forEach((l, k) => {
    const analytic = base.vs[k].grad ?? new Float64Array(l.data.length);
    for (let i = 0; i < l.data.length; i++) {
      const plus = leaves.map((x) => x.data.slice());
      const minus = leaves.map((x) => x.data.slice());
      plus[k][i] += h;
      minus[k][i] -= h;
      const numeric = (run(plus).loss.data[0] - run(minus).loss.data[0]) / (2 * h);
      const err = Math.abs(analytic[i] - numeric) / Math.max(1, Math.abs(analytic[i]), Math.abs(numeric));
      checked++;
      if (err > worst) {
        worst = err;
        where = `leaf ${k}[${i}]: backward ${analytic[i]}, finite differences ${numeric}`;
      }
    }
  });
  return { worst, where, checked };
}
