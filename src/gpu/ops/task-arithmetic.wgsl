// The task-arithmetic family: task delta, sparse task delta, DARE, TIES, DARE-TIES, breadcrumbs,
// DELLA and the federated update, one kernel configured by its parameters. The steps are stated
// once in docs/OPERATORS.md ("The task-arithmetic family"); taskArithmeticCpu is the reference.
// xs slabs: [base, x₀ … x_{P-1}], then for DELLA P slabs of keep probabilities (the host's).
//
// params: globals [sparsify (0 none, 1 magnitude, 2 random, 3 outliers, 4 della), consensus
//          (0 none, 1 ties), normalize, 0, λ, divisor (Σw, or 1 where |Σw| < 1e-8), P, 0], then
//          8 words per parent [clip, cutoff bits, cutoff index, rescale, w, lo bits, lo index,
//          fround(drop)]
//          (floats as f32 bits; outliers: cutoff = hi, all but the largest; lo, the smallest).

fn pw(p: u32) -> u32 {
  return 8u + 8u * p;
}

// Steps 1–2: the (clipped) delta of parent p at chunk element i.
fn delta(p: u32, i: u32) -> f32 {
  let d = xAt(p + 1u, i) - xAt(0u, i);
  let clip = paramF(pw(p));
  if (clip != 1.0) {
    return d * clip;
  }
  return d;
}

// Step 3: whether parent p's delta d survives at chunk element i.
fn survives(p: u32, i: u32, d: f32) -> bool {
  let g = chunk.offset + i;
  if (params[0] == 1u) {
    return isKept(magnitudeKey(d), g, params[pw(p) + 1u], params[pw(p) + 2u]);
  }
  if (params[0] == 2u) {
    return randomUnit(chunk.key, g, p) >= paramF(pw(p) + 7u);
  }
  if (params[0] == 3u) {
    // outliers: kept between the smallest (cutoff lo) and the largest gamma (all but hi).
    let m = magnitudeKey(d);
    return isPruned(m, g, params[pw(p) + 1u], params[pw(p) + 2u]) && !isPruned(m, g, params[pw(p) + 5u], params[pw(p) + 6u]);
  }
  if (params[0] == 4u) {
    // della: kept with the host's rank-dependent probability (slab 1 + P + p).
    return randomUnit(chunk.key, g, p) < xAt(1u + params[6] + p, i);
  }
  return true;
}

// Steps 3–5: the weighted sparse delta.
fn weighted(p: u32, i: u32) -> f32 {
  var d = delta(p, i);
  if (!survives(p, i, d)) {
    d = 0.0;
  } else if (paramF(pw(p) + 3u) != 1.0) {
    d = d * paramF(pw(p) + 3u);
  }
  return paramF(pw(p) + 4u) * d;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let parents = params[6];
  var m: f32 = 0.0;
  if (params[1] == 0u) {
    for (var p = 0u; p < parents; p = p + 1u) {
      m = m + weighted(p, i);
    }
    if (params[2] != 0u) {
      m = m / paramF(5u);
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
        den = den + paramF(pw(p) + 4u);
      }
    }
    if (params[2] != 0u && den != 0.0) {
      m = m / den;
    }
  }
  out[i] = xAt(0u, i) + paramF(4u) * m;
}

// Reduction term (reduce.wgsl) for parent z. aux0 = 0: (d², 0) of the unclipped delta (per-tensor
// clipping); aux0 = 1: (|d|, |d| if it survives) of the clipped delta (L1 rescale); aux0 = 2:
// (1, 0) where the non-zero weighted deltas disagree in sign (TIES statistics; exact counts);
// aux0 = 3: (1, 0) where parent z's delta survives step 3 (the receipt's kept counts; exact).
fn term(i: u32, z: u32) -> vec2<f32> {
  if (chunk.aux0 == 0u) {
    let d = xAt(z + 1u, i) - xAt(0u, i);
    return vec2<f32>(d * d, 0.0);
  }
  if (chunk.aux0 == 1u) {
    let d = delta(z, i);
    return vec2<f32>(abs(d), select(0.0, abs(d), survives(z, i, d)));
  }
  if (chunk.aux0 == 3u) {
    return select(vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), survives(z, i, delta(z, i)));
  }
  var pos = false;
  var neg = false;
  for (var p = 0u; p < params[6]; p = p + 1u) {
    let d = weighted(p, i);
    pos = pos || d > 0.0;
    neg = neg || d < 0.0;
  }
  return select(vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), pos && neg);
}
