// blend: out = Σ wₚ·xₚ / divisor, accumulated in parent order from 0, as blendCpu does.
// params: [divisor, w₀ … w_{P-1}] as f32 bits (divisor = Σ w, or 1 without normalising).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  var acc: f32 = 0.0;
  for (var p = 0u; p < chunk.parents; p = p + 1u) {
    acc = acc + paramF(p + 1u) * xAt(p, i);
  }
  let divisor = paramF(0u);
  if (divisor != 1.0) {
    acc = acc / divisor;
  }
  out[i] = acc;
}
