/**
 * Seeded test inputs for the range-kernel tests (fast.test.ts, elementwise-kernels.test.ts):
 * floats with a spread of magnitudes and signs, including exact zeros and −0 (xorshift32).
 */
export function seeded(n: number, seed: number, into: Float32Array = new Float32Array(n)): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const r = s / 4294967296;
    into[i] = r < 0.02 ? 0 : r < 0.04 ? -0 : (r - 0.5) * 2 ** ((s & 15) - 6);
  }
  return into;
}
