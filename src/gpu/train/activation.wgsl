// Elementwise activations of the garden's species (kernels.ts has the host): kind 0 = ReLU
// (the MLPs; NaN stays NaN as torch.relu), kind 1 = SiLU x·σ(x) (the Llama family's SwiGLU gate).
// `forward` y = f(x); `backward` dx (+)= dy · f'(x), f' from the forward's input x.

struct ActParams {
  n: u32,
  kind: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: ActParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-v));
}

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  let v = x[i];
  if (p.kind == 0u) {
    y[i] = select(0.0, v, v > 0.0 || v != v);
  } else {
    y[i] = v * sigmoid(v);
  }
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  let v = x[i];
  var g: f32;
  if (p.kind == 0u) {
    g = select(0.0, dy[i], v > 0.0);
  } else {
    let s = sigmoid(v);
    g = dy[i] * s * (1.0 + v * (1.0 - s));
  }
  if (p.accumulate == 1u) {
    g = dx[i] + g;
  }
  dx[i] = g;
}
