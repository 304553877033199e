// SLERP (slerp.cpu.ts): out = fround(s0·v0) + fround(s1·v1) with s0, s1 from the host.
// params: [s0, s1] as f32 bits.
//
// reduction (term): per-workgroup sums of v0·v1 (slab z = 0) and of v0·v0, v1·v1 (slab z = 1).

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

// Reduction term (reduce.wgsl): v0·v1 for slab 0; v0·v0 and v1·v1 for slab 1.
fn term(i: u32, z: u32) -> vec2<f32> {
  let x = xAt(0u, i);
  let y = xAt(1u, i);
  if (z == 0u) {
    return vec2<f32>(x * y, 0.0);
  }
  return vec2<f32>(x * x, y * y);
}
