// SLERP (slerp.cpu.ts): out = fround(s0·v0) + fround(s1·v1) with s0, s1 from the host.
// params: [s0, s1] as f32 bits.
//
// entry "dots": per-workgroup sums of v0·v1 (slab z = 0) and of v0·v0, v1·v1 (slab z = 1).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let a = paramF(0u) * xAt(0u, i);
  let b = paramF(1u) * xAt(1u, i);
  out[i] = a + b;
}

@compute @workgroup_size(WG)
fn dots(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  var v = vec2<f32>(0.0, 0.0);
  if (i < chunk.count) {
    let x = xAt(0u, i);
    let y = xAt(1u, i);
    if (wid.z == 0u) {
      v = vec2<f32>(x * y, 0.0);
    } else {
      v = vec2<f32>(x * x, y * y);
    }
  }
  reduce2(wid, nwg, lid, v);
}
