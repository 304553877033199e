// The spherical merges' shared kernel (gram.gpu.ts; the math in src/core/operators/gram.ts).
// params[0] = 1 when the first slab is a base (the vectors are the deltas xₖ − base), params[1] = K vectors.
//
// main: out = Σₖ βₖ·vₖ in vector order from 0 (+ base), βₖ = paramF(4 + k).
// reduction (term): slab z sums the products of pairs 2z and 2z + 1 of the upper-triangle list at
//   params[4 + 2m], params[5 + 2m] (params[2] = the number of pairs).

fn vecAt(k: u32, i: u32) -> f32 {
  if (params[0] == 1u) {
    return xAt(k + 1u, i) - xAt(0u, i);
  }
  return xAt(k, i);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  var acc: f32 = 0.0;
  for (var k = 0u; k < params[1]; k = k + 1u) {
    acc = acc + paramF(4u + k) * vecAt(k, i);
  }
  if (params[0] == 1u) {
    acc = xAt(0u, i) + acc;
  }
  out[i] = acc;
}

fn pairProduct(m: u32, i: u32) -> f32 {
  if (m >= params[2]) {
    return 0.0;
  }
  return vecAt(params[4u + 2u * m], i) * vecAt(params[5u + 2u * m], i);
}

fn term(i: u32, z: u32) -> vec2<f32> {
  return vec2<f32>(pairProduct(2u * z, i), pairProduct(2u * z + 1u, i));
}
