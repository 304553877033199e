// Exact top-k by magnitude, one radix-select pass (the host side is radix-select.ts): a
// 2048-bin histogram of one 11-bit digit of the keys that still match the prefix found so far.
// Workgroup z is the slab (one selection per parent delta); the host reads the histogram back,
// picks the digit, and runs the next pass. The digits sit at shifts 22, 11 and 0, so three
// passes cover the 31 bits of a magnitude key (an f32's bits with the sign cleared).
//
// Phase 0 (chunk.mode == 0): bins of the magnitude key's digit at chunk.shift.
// Phase 1 (chunk.mode == 1): among elements whose key equals the cutoff, bins of the global
// index's digit at chunk.shift, to find the last tie that survives (ties go to the lower index).
//
// The value of slab s at element i is fround(xs[parent] − xs[base]) · scale (base and scale
// optional), as the task-arithmetic family clips a delta before trimming it.

const NONE: u32 = 0xffffffffu;
const BINS: u32 = 2048u;
const DIGIT: u32 = 2047u;

struct SelectSlab {
  parent: u32,      // the slab of xs whose values are ranked
  base: u32,        // the slab subtracted first, or NONE
  keyPrefix: u32,   // the key digits found so far
  keyMask: u32,     // which bits of keyPrefix are found
  indexPrefix: u32, // phase 1: the index digits found so far
  indexMask: u32,
  live: u32,        // 0: this slab's selection is settled, count nothing
  scale: f32,       // 1, or the clip factor applied to the delta
}

struct SelectParams {
  slabs: array<SelectSlab>,
}

@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> params: SelectParams;

var<workgroup> bins: array<atomic<u32>, BINS>;

// Elements per invocation: each invocation walks PER elements (strided by WG, so neighbouring
// invocations read neighbouring elements) and adds a run of equal bins with one atomic, which
// keeps the heavily shared bins of the first pass cheap.
const PER: u32 = 16u;

// The bin of chunk element i for `slab`, or NONE when it does not match the prefix.
fn binOf(slab: SelectSlab, i: u32) -> u32 {
  var v = xAt(slab.parent, i);
  if (slab.base != NONE) {
    v = v - xAt(slab.base, i);
  }
  if (slab.scale != 1.0) {
    v = v * slab.scale;
  }
  let key = magnitudeKey(v);
  let shift = chunk.shift;
  if (chunk.mode == 0u) {
    if ((key & slab.keyMask) == slab.keyPrefix) {
      return (key >> shift) & DIGIT;
    }
  } else {
    let g = chunk.offset + i;
    if (key == slab.keyPrefix && (g & slab.indexMask) == slab.indexPrefix) {
      return (g >> shift) & DIGIT;
    }
  }
  return NONE;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var b = lid; b < BINS; b = b + WG) {
    atomicStore(&bins[b], 0u);
  }
  workgroupBarrier();
  let s = wid.z;
  let slab = params.slabs[s];
  let first = (wid.y * nwg.x + wid.x) * WG * PER + lid;
  if (slab.live != 0u) {
    var run = NONE;
    var count = 0u;
    for (var e = 0u; e < PER; e = e + 1u) {
      let i = first + e * WG;
      if (i >= chunk.count) {
        break;
      }
      let bin = binOf(slab, i);
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
  for (var b = lid; b < BINS; b = b + WG) {
    let c = atomicLoad(&bins[b]);
    if (c != 0u) {
      atomicAdd(&hist[s * BINS + b], c);
    }
  }
}
