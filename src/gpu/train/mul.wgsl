// Elementwise product and sum (kernels.ts has the host). `main` out[i] (+)= a[i]·b[i]: LoRA dropout
// on the GPU is x ⊙ mask (the mask of the CPU engine's `dropout`, 0 or 1/(1 − p), made on the
// host), and its backward dx += dxd ⊙ mask; SwiGLU's silu(gate) ⊙ up and its two gradients.
// `add` out[i] (+)= a[i] + b[i]: the Llama block's residual connections.

struct MulParams {
  n: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: MulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) {
    return;
  }
  var v = a[i] * b[i];
  if (p.accumulate == 1u) {
    v = out[i] + v;
  }
  out[i] = v;
}

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) {
    return;
  }
  var v = a[i] + b[i];
  if (p.accumulate == 1u) {
    v = out[i] + v;
  }
  out[i] = v;
}
