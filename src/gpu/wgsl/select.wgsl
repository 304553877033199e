// Exact top-k by magnitude, one radix-select pass: a 256-bin histogram of one byte of the keys
// that still match the prefix found so far. Workgroup z is the slab (one selection per parent
// delta); the host reads the histogram back, picks the byte, and runs the next pass.
//
// Phase 0 (chunk.aux0 == 0): bins of the magnitude key's byte at chunk.aux1 (24, 16, 8, 0).
// Phase 1 (chunk.aux0 == 1): among elements whose key equals the threshold T, bins of the global
// index's byte, to find the last tie that survives (ties go to the lower index).
//
// params per slab s, 8 words at s*8: [value parent, base parent or NONE, key prefix, key mask,
// index prefix, index mask, active, scale (f32 bits)]. The value is fround(x − base) · scale, as
// the task-arithmetic family clips a delta before trimming it.

const NONE: u32 = 0xffffffffu;

@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;

var<workgroup> bins: array<atomic<u32>, 256>;

// Elements per invocation: each invocation walks PER elements (strided by WG, so neighbouring
// invocations read neighbouring elements) and adds a run of equal bins with one atomic, which
// keeps the heavily shared bins of the first pass cheap.
const PER: u32 = 16u;

// The bin of chunk element i for slab word offset w, or NONE when it does not match the prefix.
fn binOf(w: u32, i: u32) -> u32 {
  var v = xAt(params[w], i);
  if (params[w + 1u] != NONE) {
    v = v - xAt(params[w + 1u], i);
  }
  let scale = bitcast<f32>(params[w + 7u]);
  if (scale != 1.0) {
    v = v * scale;
  }
  let key = magnitudeKey(v);
  let shift = chunk.aux1;
  if (chunk.aux0 == 0u) {
    if ((key & params[w + 3u]) == params[w + 2u]) {
      return (key >> shift) & 255u;
    }
  } else {
    let g = chunk.offset + i;
    if (key == params[w + 2u] && (g & params[w + 5u]) == params[w + 4u]) {
      return (g >> shift) & 255u;
    }
  }
  return NONE;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var b = lid; b < 256u; b = b + WG) {
    atomicStore(&bins[b], 0u);
  }
  workgroupBarrier();
  let s = wid.z;
  let w = s * 8u;
  let first = (wid.y * nwg.x + wid.x) * WG * PER + lid;
  if (params[w + 6u] != 0u) {
    var run = NONE;
    var count = 0u;
    for (var e = 0u; e < PER; e = e + 1u) {
      let i = first + e * WG;
      if (i >= chunk.count) {
        break;
      }
      let bin = binOf(w, i);
      if (bin == NONE) {
        continue;
      }
      if (bin != run) {
        if (count != 0u) {
          atomicAdd(&bins[run], count);
        }
        run = bin;
        count = 0u;
      }
      count = count + 1u;
    }
    if (count != 0u) {
      atomicAdd(&bins[run], count);
    }
  }
  workgroupBarrier();
  for (var b = lid; b < 256u; b = b + WG) {
    let c = atomicLoad(&bins[b]);
    if (c != 0u) {
      atomicAdd(&hist[s * 256u + b], c);
    }
  }
}
