// Softmax cross-entropy from logits z [rows, cols] with integer labels (kernels.ts has the
// host), rows labelled −100 (IGNORE_INDEX) left out, as src/core/train/loss.ts. One thread per row:
// rowLoss[r] = log Σ exp(z − max) + max − z[label], and dz[r,c] = scale · (softmax(z)[c] − [c = label])
// with scale = 1 / (rows counted), so dz is the gradient of the mean. The host sums rowLoss.

struct XentParams {
  rows: u32,
  cols: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: XentParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dz: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) {
    return;
  }
  let o = r * p.cols;
  let y = labels[r];
  if (y < 0) {
    rowLoss[r] = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
      dz[o + c] = 0.0;
    }
    return;
  }
  var mx = z[o];
  for (var c = 1u; c < p.cols; c = c + 1u) {
    mx = max(mx, z[o + c]);
  }
  var sum: f32 = 0.0;
  for (var c = 0u; c < p.cols; c = c + 1u) {
    sum = sum + exp(z[o + c] - mx);
  }
  rowLoss[r] = log(sum) + mx - z[o + u32(y)];
  for (var c = 0u; c < p.cols; c = c + 1u) {
    let q = exp(z[o + c] - mx) / sum;
    dz[o + c] = p.scale * (q - select(0.0, 1.0, c == u32(y)));
  }
}
