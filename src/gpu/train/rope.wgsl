// Rotary position embedding on every head of x [rows, cols = heads·headDim] (kernels.ts has the
// host), rotate_half as src/core/train/ops-llm.ts `rope`: per head, over its two halves,
// (x₁, x₂) → (x₁·c − x₂·s, x₂·c + x₁·s) with c = cos[r, i], s = sign·sin[r, i]. The tables
// [rows, headDim / 2] come from the host (cos and sin of the f32 angle position·inv_freq, in doubles,
// so rope_theta and any rope_scaling live in inv_freq alone). sign = 1 is the forward; sign = −1
// (the rotation by the opposite angle) is the backward dx (+)= R(−θ)·dy. A thread per pair.

struct RopeParams {
  rows: u32,
  cols: u32,
  headDim: u32,
  sign: f32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: RopeParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 256u;
  let half = p.headDim / 2u;
  let pairs = p.cols / 2u;
  if (idx >= p.rows * pairs) {
    return;
  }
  let r = idx / pairs;
  let rem = idx % pairs;
  let i = rem % half;
  let o = r * p.cols + (rem / half) * p.headDim + i;
  let c = cosT[r * half + i];
  let s = p.sign * sinT[r * half + i];
  let x1 = x[o];
  let x2 = x[o + half];
  var y1 = x1 * c - x2 * s;
  var y2 = x2 * c + x1 * s;
  if (p.accumulate == 1u) {
    y1 = y[o] + y1;
    y2 = y[o + half] + y2;
  }
  y[o] = y1;
  y[o + half] = y2;
}
