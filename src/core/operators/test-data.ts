/** Seeded test data for operator tests (a tiny mulberry32 stream, independent of prng.ts). */
import { fromFloat32, type Tensor } from '../tensor.ts';

import { mulberry32 } from '../seeded.ts';

export const rng = mulberry32;

/** n float32 values, roughly normal with standard deviation `scale`. */
export function randomValues(seed: number, n: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() + r() + r() + r() - 2) * scale * Math.sqrt(3);
  return out;
}

/** n values drawn from a few small integers (many ties, both signs, zeros). */
export function tiedValues(seed: number, n: number, levels = 4): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.floor(r() * (2 * levels + 1)) - levels);
}

/** A small model: fc1.weight [in, hidden], fc1.bias [hidden], fc2.weight [hidden, out], fc2.bias [out]. */
export function randomModel(seed: number, inputs = 12, hidden = 8, outputs = 3, scale = 0.1): Tensor[] {
  const specs: [string, number[]][] = [
    ['fc1.weight', [inputs, hidden]],
    ['fc1.bias', [hidden]],
    ['fc2.weight', [hidden, outputs]],
    ['fc2.bias', [outputs]],
  ];
  return specs.map(([name, shape], i) =>
    fromFloat32(
      name,
      shape,
      randomValues(
        seed * 31 + i,
        shape.reduce((a, b) => a * b, 1),
        scale,
      ),
    ),
  );
}
