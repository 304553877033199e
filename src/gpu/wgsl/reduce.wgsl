// Reductions (norms, dot products, L1 masses, counts): the kernel file defines
// `fn term(i: u32, z: u32) -> vec2<f32>`, the contribution of chunk element i to slab z. Each
// invocation adds PER elements (strided by WG), the workgroup adds its invocations in a tree (WG
// is a power of two), and invocation 0 writes the pair to out[((z · workgroups) + workgroup) · 2 + t].
// The host adds the partials in float64.

const PER: u32 = 16u;

var<workgroup> partial: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn reduce(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.y * nwg.x + wid.x) * WG * PER + lid;
  var acc = vec2<f32>(0.0, 0.0);
  for (var e = 0u; e < PER; e = e + 1u) {
    let i = first + e * WG;
    if (i >= chunk.count) {
      break;
    }
    acc = acc + term(i, wid.z);
  }
  partial[lid] = acc;
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
