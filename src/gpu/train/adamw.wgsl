// One AdamW step on a parameter tensor (kernels.ts has the host), torch.optim.AdamW's order of
// operations as src/core/train/optim.ts: θ ← θ·decay − lr·(m/c1)/(√(v/c2) + eps) after
// m ← β₁m + (1 − β₁)g and v ← β₂v + (1 − β₂)g², where decay = 1 − lr·λ (1 for tensors that are
// not decayed) and c1 = 1 − β₁ᵗ, c2 = 1 − β₂ᵗ come from the host (computed in doubles). m and v are
// f32 here (the CPU keeps doubles).

struct AdamWParams {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  decay: f32,
  c1: f32,
  c2: f32,
}

@group(0) @binding(0) var<uniform> p: AdamWParams;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) {
    return;
  }
  let gi = g[i];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gi;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  w[i] = w[i] * p.decay - (p.lr * (mi / p.c1)) / (sqrt(vi / p.c2) + p.eps);
}
