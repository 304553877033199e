// RMSNorm with a weight, y = x / √(mean(x²) + eps) · w per row (kernels.ts has the host), as
// src/core/train/ops-llm.ts. `forward` (a thread per row) also keeps inv[r] = 1/√(mean + eps) for
// the backward; `backwardX` (a thread per row) dx (+)= inv·(dy·w − x·inv·⟨dy·w, x·inv⟩/n);
// `backwardW` (a thread per column) dw (+)= Σ_r dy·x·inv.

struct RmsNormParams {
  rows: u32,
  cols: u32,
  eps: f32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: RmsNormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> inv: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> invIn: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
@group(0) @binding(8) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) {
    return;
  }
  let o = r * p.cols;
  var ss: f32 = 0.0;
  for (var j = 0u; j < p.cols; j = j + 1u) {
    ss = ss + x[o + j] * x[o + j];
  }
  let s = 1.0 / sqrt(ss / f32(p.cols) + p.eps);
  inv[r] = s;
  for (var j = 0u; j < p.cols; j = j + 1u) {
    y[o + j] = x[o + j] * s * w[j];
  }
}

@compute @workgroup_size(64)
fn backwardX(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) {
    return;
  }
  let o = r * p.cols;
  let s = invIn[r];
  var dot: f32 = 0.0;
  for (var j = 0u; j < p.cols; j = j + 1u) {
    dot = dot + dy[o + j] * w[j] * x[o + j] * s;
  }
  let mean = dot / f32(p.cols);
  for (var j = 0u; j < p.cols; j = j + 1u) {
    var g = s * (dy[o + j] * w[j] - x[o + j] * s * mean);
    if (p.accumulate == 1u) {
      g = dx[o + j] + g;
    }
    dx[o + j] = g;
  }
}

@compute @workgroup_size(64)
fn backwardW(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= p.cols) {
    return;
  }
  var s: f32 = 0.0;
  for (var r = 0u; r < p.rows; r = r + 1u) {
    s = s + dy[r * p.cols + j] * x[r * p.cols + j] * invIn[r];
  }
  if (p.accumulate == 1u) {
    s = dw[j] + s;
  }
  dw[j] = s;
}
