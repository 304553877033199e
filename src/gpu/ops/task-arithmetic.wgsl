// The task-arithmetic family: task delta, sparse task delta, DARE, TIES, DARE-TIES, breadcrumbs,
// DELLA and the federated update, one kernel configured by its parameters. The steps are stated
// once in docs/OPERATORS.md ("The task-arithmetic family"); taskArithmeticCpu is the reference.
// xs slabs: [base, x₀ … x_{P-1}], then for DELLA P slabs of keep probabilities (the host's).
//
// Host twin: TaskArithmeticParams in task-arithmetic.gpu.ts.

// Per parent p (the delta xₚ₊₁ − base).
struct ParentParams {
  clip: f32,        // the clip factor (1: none)
  cutoffBits: u32,  // magnitude: the top-k cutoff; outliers: hi, the cutoff that prunes all but the largest
  cutoffIndex: u32,
  rescale: f32,     // the factor survivors are scaled by (1: none)
  weight: f32,      // w
  loBits: u32,      // outliers: lo, the cutoff that prunes the smallest
  loIndex: u32,
  drop: f32,        // random: the drop probability
}

struct TaskArithmeticParams {
  sparsify: u32,  // 0 none, 1 magnitude, 2 random, 3 outliers, 4 della
  consensus: u32, // 0 none, 1 ties
  normalize: u32, // 1: divide by the divisor (no consensus) or by the agreeing weights (ties)
  lambda: f32,    // λ, the scale of the merged delta
  divisor: f32,   // Σw, or 1 where |Σw| < 1e-8
  models: u32,    // P
  parents: array<ParentParams>,
}

@group(0) @binding(3) var<storage, read> params: TaskArithmeticParams;

// Steps 1–2: the (clipped) delta of parent p at chunk element i.
fn delta(p: u32, i: u32) -> f32 {
  let d = xAt(p + 1u, i) - xAt(0u, i);
  let clip = params.parents[p].clip;
  if (clip != 1.0) {
    return d * clip;
  }
  return d;
}

// Step 3: whether parent p's delta d survives at chunk element i.
fn survives(p: u32, i: u32, d: f32) -> bool {
  let g = chunk.offset + i;
  let pp = params.parents[p];
  if (params.sparsify == 1u) {
    return isKept(magnitudeKey(d), g, pp.cutoffBits, pp.cutoffIndex);
  }
  if (params.sparsify == 2u) {
    return randomUnit(chunk.key, g, p) >= pp.drop;
  }
  if (params.sparsify == 3u) {
    // outliers: kept between the smallest (cutoff lo) and the largest gamma (all but hi).
    let m = magnitudeKey(d);
    return isPruned(m, g, pp.cutoffBits, pp.cutoffIndex) && !isPruned(m, g, pp.loBits, pp.loIndex);
  }
  if (params.sparsify == 4u) {
    // della: kept with the host's rank-dependent probability (slab 1 + P + p).
    return randomUnit(chunk.key, g, p) < xAt(1u + params.models + p, i);
  }
  return true;
}

// Steps 4–5: the weighted sparse delta of parent p's delta d, given whether it survives step 3.
fn weightedFrom(p: u32, d: f32, kept: bool) -> f32 {
  var v = d;
  let rescale = params.parents[p].rescale;
  if (!kept) {
    v = 0.0;
  } else if (rescale != 1.0) {
    v = v * rescale;
  }
  return params.parents[p].weight * v;
}

// Steps 3–5: the weighted sparse delta.
fn weighted(p: u32, i: u32) -> f32 {
  let d = delta(p, i);
  return weightedFrom(p, d, survives(p, i, d));
}

// Steps 6–7: the merged element i.
fn merged(i: u32) -> f32 {
  let parents = params.models;
  var m: f32 = 0.0;
  if (params.consensus == 0u) {
    for (var p = 0u; p < parents; p = p + 1u) {
      m = m + weighted(p, i);
    }
    if (params.normalize != 0u) {
      m = m / params.divisor;
    }
  } else {
    // TIES: the elected sign is + where the summed mass is >= 0 (mergekit's get_mask).
    var sum: f32 = 0.0;
    for (var p = 0u; p < parents; p = p + 1u) {
      sum = sum + weighted(p, i);
    }
    let positive = sum >= 0.0;
    var den: f32 = 0.0;
    for (var p = 0u; p < parents; p = p + 1u) {
      let v = weighted(p, i);
      if ((positive && v > 0.0) || (!positive && v < 0.0)) {
        m = m + v;
        den = den + params.parents[p].weight;
      }
    }
    if (params.normalize != 0u && den != 0.0) {
      m = m / den;
    }
  }
  return xAt(0u, i) + params.lambda * m;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  out[i] = merged(i);
}

// The final pass with the receipt's counts fused in (TensorJob.elementwiseTally): besides out[i],
// each workgroup writes P + 1 exact counts after the chunk's outputs, at out[chunk.stride +
// workgroup · (P + 1) + j]: for j < P the elements where parent j's delta survives step 3, for
// j = P the elements whose non-zero weighted deltas disagree in sign (TIES statistics). The
// host sums them over the workgroups. TALLY_SLOTS bounds P + 1 (the host falls back to
// reductions above it).
const TALLY_SLOTS: u32 = 256u;
var<workgroup> tally: array<atomic<u32>, TALLY_SLOTS>;

@compute @workgroup_size(WG)
fn counted(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let slots = params.models + 1u;
  for (var j = lid; j < slots; j = j + WG) {
    atomicStore(&tally[j], 0u);
  }
  workgroupBarrier();
  let i = localIndex(wid, nwg, lid);
  if (i < chunk.count) {
    out[i] = merged(i);
    var pos = false;
    var neg = false;
    for (var p = 0u; p < params.models; p = p + 1u) {
      let d = delta(p, i);
      let kept = survives(p, i, d);
      if (kept) {
        atomicAdd(&tally[p], 1u);
      }
      let v = weightedFrom(p, d, kept);
      pos = pos || v > 0.0;
      neg = neg || v < 0.0;
    }
    if (pos && neg) {
      atomicAdd(&tally[params.models], 1u);
    }
  }
  workgroupBarrier();
  let at = chunk.stride + (wid.y * nwg.x + wid.x) * slots;
  for (var j = lid; j < slots; j = j + WG) {
    out[at + j] = f32(atomicLoad(&tally[j]));
  }
}

// Reduction term (reduce.wgsl) for parent z, by chunk.mode. 0: (d², 0) of the unclipped delta
// (per-tensor clipping); 1: (|d|, |d| if it survives) of the clipped delta (L1 rescale); 2:
// (1, 0) where the non-zero weighted deltas disagree in sign (TIES statistics; exact counts);
// 3: (1, 0) where parent z's delta survives step 3 (the receipt's kept counts; exact). Modes 2
// and 3 serve only where `counted` cannot (more than TALLY_SLOTS − 1 parents).
fn term(i: u32, z: u32) -> vec2<f32> {
  if (chunk.mode == 0u) {
    let d = xAt(z + 1u, i) - xAt(0u, i);
    return vec2<f32>(d * d, 0.0);
  }
  if (chunk.mode == 1u) {
    let d = delta(z, i);
    return vec2<f32>(abs(d), select(0.0, abs(d), survives(z, i, d)));
  }
  if (chunk.mode == 3u) {
    return select(vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), survives(z, i, delta(z, i)));
  }
  var pos = false;
  var neg = false;
  for (var p = 0u; p < params.models; p = p + 1u) {
    let d = weighted(p, i);
    pos = pos || d > 0.0;
    neg = neg || d < 0.0;
  }
  return select(vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), pos && neg);
}
