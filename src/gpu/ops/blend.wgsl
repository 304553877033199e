// blend: out = Σ wₚ·xₚ / divisor, accumulated in parent order from 0, as blendCpu does.
// Host twin: BlendParams in blend.gpu.ts.

struct BlendParams {
  divisor: f32,        // Σ w, or 1 without normalising
  weights: array<f32>, // one per parent
}

@group(0) @binding(3) var<storage, read> params: BlendParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  var acc: f32 = 0.0;
  for (var p = 0u; p < chunk.parents; p = p + 1u) {
    acc = acc + params.weights[p] * xAt(p, i);
  }
  let divisor = params.divisor;
  if (divisor != 1.0) {
    acc = acc / divisor;
  }
  out[i] = acc;
}
