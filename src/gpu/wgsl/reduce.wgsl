// Workgroup sums for reductions (norms, dot products, L1 masses): every invocation contributes
// a vec2, the workgroup adds them in a tree (WG is a power of two) and invocation 0 writes the
// pair to out[((z · workgroups) + workgroup) · 2 + t]. The host adds the partials in float64.
// Call from uniform control flow in every invocation (it has barriers).

var<workgroup> partial: array<vec2<f32>, WG>;

fn reduce2(wid: vec3u, nwg: vec3u, lid: u32, v: vec2<f32>) {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      partial[lid] = partial[lid] + partial[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let o = (wid.z * nwg.x * nwg.y + wid.y * nwg.x + wid.x) * 2u;
    out[o] = partial[0].x;
    out[o + 1u] = partial[0].y;
  }
}
