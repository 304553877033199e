// Shared WGSL helpers, prepended to every operator kernel (KernelContext.pipeline, src/gpu/context.ts).
//
// 1. Counter-based randomness, the twin of src/core/operators/prng.ts: a value is a pure function
//    of (key, global element index, stream). The mixer is "lowbias32" (Chris Wellons): 32-bit
//    multiply, xor and shift only, all exact in u32, so GPU and CPU agree bit for bit. The per-tensor
//    key (FNV-1a of the name folded with the seed) is computed on the host with tensorKey().
// 2. Selection keys: the magnitude of an f32 as its bits with the sign cleared, which orders like
//    |x| for every non-NaN value; exact selections compare it with a cutoff (bits, index).

fn mix32(v: u32) -> u32 {
  var x = v;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  x = x ^ (x >> 16u);
  return x;
}

// 32 random bits for element `index` under `key`, stream `stream` (several draws per element).
fn randomU32(key: u32, index: u32, stream: u32) -> u32 {
  return mix32(mix32(key ^ (stream * 0x9e3779b9u)) ^ index);
}

// A uniform f32 in [0, 1) with 24 bits: (bits >> 8) · 2^-24, exact on both sides.
fn randomUnit(key: u32, index: u32, stream: u32) -> f32 {
  return f32(randomU32(key, index, stream) >> 8u) * 5.9604644775390625e-8;
}

// |x| ordered as an unsigned integer.
fn magnitudeKey(x: f32) -> u32 {
  return bitcast<u32>(x) & 0x7fffffffu;
}

// The core's cutoffs (src/core/operators/select.ts), i the global element index:
// a top-k keeps mag > bits || (mag == bits && i < index) (bits = 0x80000000 keeps nothing);
// a bottom-m pruning removes mag < bits || (mag == bits && i < index).
fn isKept(mag: u32, i: u32, bits: u32, index: u32) -> bool {
  return mag > bits || (mag == bits && i < index);
}

fn isPruned(mag: u32, i: u32, bits: u32, index: u32) -> bool {
  return mag < bits || (mag == bits && i < index);
}
