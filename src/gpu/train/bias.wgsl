// Bias of a linear layer (kernels.ts has the host): `add` x[r,c] += bias[c] on every row, in place;
// `grad` db[c] (+)= Σ_r dy[r,c], the bias gradient (one thread per column, rows summed in order).

struct BiasParams {
  rows: u32,
  cols: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: BiasParams;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.rows * p.cols) {
    return;
  }
  x[i] = x[i] + bias[i % p.cols];
}

@compute @workgroup_size(64)
fn grad(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= p.cols) {
    return;
  }
  var s: f32 = 0.0;
  for (var r = 0u; r < p.rows; r = r + 1u) {
    s = s + dy[r * p.cols + j];
  }
  if (p.accumulate == 1u) {
    s = db[j] + s;
  }
  db[j] = s;
}
