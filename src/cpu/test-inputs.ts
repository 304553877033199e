/**
 * Seeded test inputs for the CPU tests (fast.test.ts, elementwise-kernels.test.ts,
 * stream-breed.test.ts, sha256.test.ts): one xorshift32 step, and floats with a spread of
 * magnitudes and signs, including exact zeros and −0.
 */

/** The next state of a xorshift32 generator (13, 17, 5); a state is a non-zero uint32. */
export function xorshift32(s: number): number {
  s ^= s << 13;
  s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5;
  return s >>> 0;
}

export function seeded(n: number, seed: number, into: Float32Array = new Float32Array(n)): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = xorshift32(s);
    const r = s / 4294967296;
    into[i] = r < 0.02 ? 0 : r < 0.04 ? -0 : (r - 0.5) * 2 ** ((s & 15) - 6);
  }
  return into;
}
