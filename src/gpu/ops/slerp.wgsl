// SLERP (slerp.cpu.ts): out = fround(s0·v0) + fround(s1·v1) with s0, s1 from the host.
// Host twin: SlerpParams in slerp.gpu.ts.
//
// reduction (term): per-workgroup sums of v0·v1 (slab z = 0) and of v0·v0, v1·v1 (slab z = 1).

struct SlerpParams {
  s0: f32, // the coefficient of v0 (unused by the reduction)
  s1: f32, // the coefficient of v1
}

@group(0) @binding(3) var<storage, read> params: SlerpParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let a = params.s0 * xAt(0u, i);
  let b = params.s1 * xAt(1u, i);
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
