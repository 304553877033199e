/**
 * Counter-based randomness: a value is a pure function of (seed, tensor name, element index), so
 * a mask is the same on GPU and CPU and whatever the chunking. The mixer is the "lowbias32" integer
 * hash (Chris Wellons), which uses only 32-bit multiply, xor and shift, all exact in WGSL's u32.
 * The WGSL twin lives in src/gpu/wgsl/prng.wgsl and must stay identical.
 */

export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/** FNV-1a over the UTF-8 bytes of a tensor name, folded with the seed: the per-tensor key. */
export function tensorKey(seed: number, tensorName: string): number {
  let h = 0x811c9dc5;
  const bytes = new TextEncoder().encode(tensorName);
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return mix32((h ^ mix32(seed >>> 0)) >>> 0);
}

/** 32 random bits for element `index` (index < 2^32) under `key`, with a stream id for several draws. */
export function randomU32(key: number, index: number, stream = 0): number {
  return mix32((mix32((key ^ Math.imul(stream, 0x9e3779b9)) >>> 0) ^ index) >>> 0);
}

/** A uniform float in [0, 1) with 24 bits, exactly representable in f32 on both sides. */
export function randomUnit(key: number, index: number, stream = 0): number {
  return (randomU32(key, index, stream) >>> 8) / 16777216;
}

/**
 * The per-(key, stream) half of randomU32, hoisted out of element loops:
 * randomU32(key, i, stream) === mix32((streamKey(key, stream) ^ i) >>> 0).
 */
export function streamKey(key: number, stream = 0): number {
  return mix32((key ^ Math.imul(stream, 0x9e3779b9)) >>> 0);
}

/** randomUnit(key, i, stream) from a precomputed streamKey(key, stream). */
export function unitAt(sk: number, index: number): number {
  return (mix32((sk ^ index) >>> 0) >>> 8) / 16777216;
}
