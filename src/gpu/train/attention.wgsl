// Causal grouped-query attention of the Llama family (kernels.ts has the host), as
// src/core/train/ops-llm.ts `causalAttention`: per sequence b, query head h and position i,
// P[b,h,i,j] = softmax_j(q_i·k_j · scale) over lo(i) ≤ j ≤ i (the causal mask; lo(i) = i − window + 1
// with Mistral's sliding window, else 0), out_i = Σ_j P·v_j, query head h reading KV head
// h / (heads / kvHeads). q, out [batch·seqLen, heads·headDim]; k, v [batch·seqLen, kvHeads·headDim].
// P [batch, heads, seqLen, seqLen] is kept for the backward (0 where masked).
//  `forward`   a thread per (b, h, i): scores, max, exp, normalise, then the weighted values.
//  `scores`    a thread per (b, h, i): dS = P ⊙ (dP − Σ_j P·dP) · scale with dP_j = dout_i·v_j,
//              the softmax's backward (0 where masked).
//  `backwardQ` a thread per element of dq: dq_i (+)= Σ_j dS[i,j]·k_j.
//  `backwardKV` a thread per element of dk and dv: dk_j (+)= Σ_{h in the group} Σ_{i ≥ j} dS[i,j]·q_i,
//              dv_j (+)= Σ_h Σ_i P[i,j]·dout_i (no two threads write one element: no atomics).

struct AttnParams {
  batch: u32,
  seqLen: u32,
  heads: u32,
  kvHeads: u32,
  headDim: u32,
  window: u32,
  scale: f32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: AttnParams;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
@group(0) @binding(7) var<storage, read> probsIn: array<f32>;
@group(0) @binding(8) var<storage, read_write> dscores: array<f32>;
@group(0) @binding(9) var<storage, read> dscoresIn: array<f32>;
@group(0) @binding(10) var<storage, read_write> dq: array<f32>;
@group(0) @binding(11) var<storage, read_write> dk: array<f32>;
@group(0) @binding(12) var<storage, read_write> dv: array<f32>;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * 64u;
}

/** The first position query i attends to. */
fn lo(i: u32) -> u32 {
  if (p.window > 0u && i + 1u > p.window) {
    return i + 1u - p.window;
  }
  return 0u;
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = index(gid, nwg);
  let T = p.seqLen;
  let D = p.headDim;
  if (idx >= p.batch * p.heads * T) {
    return;
  }
  let i = idx % T;
  let h = (idx / T) % p.heads;
  let b = idx / (T * p.heads);
  let g = h / (p.heads / p.kvHeads);
  let qs = p.heads * D;
  let ks = p.kvHeads * D;
  let qo = (b * T + i) * qs + h * D;
  let po = idx * T;
  let j0 = lo(i);
  for (var j = 0u; j < T; j = j + 1u) {
    if (j < j0 || j > i) {
      probs[po + j] = 0.0;
      continue;
    }
    let ko = (b * T + j) * ks + g * D;
    var dot: f32 = 0.0;
    for (var d = 0u; d < D; d = d + 1u) {
      dot = dot + q[qo + d] * k[ko + d];
    }
    probs[po + j] = dot * p.scale;
  }
  var mx = probs[po + j0];
  for (var j = j0 + 1u; j <= i; j = j + 1u) {
    mx = max(mx, probs[po + j]);
  }
  var sum: f32 = 0.0;
  for (var j = j0; j <= i; j = j + 1u) {
    let e = exp(probs[po + j] - mx);
    probs[po + j] = e;
    sum = sum + e;
  }
  for (var j = j0; j <= i; j = j + 1u) {
    probs[po + j] = probs[po + j] / sum;
  }
  for (var d = 0u; d < D; d = d + 1u) {
    var acc: f32 = 0.0;
    for (var j = j0; j <= i; j = j + 1u) {
      acc = acc + probs[po + j] * v[(b * T + j) * ks + g * D + d];
    }
    out[qo + d] = acc;
  }
}

@compute @workgroup_size(64)
fn scores(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = index(gid, nwg);
  let T = p.seqLen;
  let D = p.headDim;
  if (idx >= p.batch * p.heads * T) {
    return;
  }
  let i = idx % T;
  let h = (idx / T) % p.heads;
  let b = idx / (T * p.heads);
  let g = h / (p.heads / p.kvHeads);
  let qs = p.heads * D;
  let ks = p.kvHeads * D;
  let qo = (b * T + i) * qs + h * D;
  let po = idx * T;
  let j0 = lo(i);
  var rowDot: f32 = 0.0;
  for (var j = 0u; j < T; j = j + 1u) {
    if (j < j0 || j > i) {
      dscores[po + j] = 0.0;
      continue;
    }
    let vo = (b * T + j) * ks + g * D;
    var dp: f32 = 0.0;
    for (var d = 0u; d < D; d = d + 1u) {
      dp = dp + dout[qo + d] * v[vo + d];
    }
    dscores[po + j] = dp;
    rowDot = rowDot + probsIn[po + j] * dp;
  }
  for (var j = j0; j <= i; j = j + 1u) {
    dscores[po + j] = probsIn[po + j] * (dscores[po + j] - rowDot) * p.scale;
  }
}

@compute @workgroup_size(64)
fn backwardQ(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = index(gid, nwg);
  let T = p.seqLen;
  let D = p.headDim;
  let qs = p.heads * D;
  if (idx >= p.batch * T * qs) {
    return;
  }
  let d = idx % D;
  let h = (idx / D) % p.heads;
  let row = idx / qs;
  let i = row % T;
  let b = row / T;
  let g = h / (p.heads / p.kvHeads);
  let ks = p.kvHeads * D;
  let po = ((b * p.heads + h) * T + i) * T;
  var acc: f32 = 0.0;
  for (var j = lo(i); j <= i; j = j + 1u) {
    acc = acc + dscoresIn[po + j] * k[(b * T + j) * ks + g * D + d];
  }
  if (p.accumulate == 1u) {
    acc = dq[idx] + acc;
  }
  dq[idx] = acc;
}

@compute @workgroup_size(64)
fn backwardKV(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = index(gid, nwg);
  let T = p.seqLen;
  let D = p.headDim;
  let ks = p.kvHeads * D;
  if (idx >= p.batch * T * ks) {
    return;
  }
  let d = idx % D;
  let g = (idx / D) % p.kvHeads;
  let row = idx / ks;
  let j = row % T;
  let b = row / T;
  let group = p.heads / p.kvHeads;
  let qs = p.heads * D;
  var ak: f32 = 0.0;
  var av: f32 = 0.0;
  for (var h = g * group; h < (g + 1u) * group; h = h + 1u) {
    for (var i = j; i < T; i = i + 1u) {
      // Masked (i, j) hold 0 in P and dS.
      let pij = ((b * p.heads + h) * T + i) * T + j;
      let qo = (b * T + i) * qs + h * D + d;
      ak = ak + dscoresIn[pij] * q[qo];
      av = av + probsIn[pij] * dout[qo];
    }
  }
  if (p.accumulate == 1u) {
    ak = dk[idx] + ak;
    av = dv[idx] + av;
  }
  dk[idx] = ak;
  dv[idx] = av;
}
