// NuSLERP (nuslerp.cpu.ts): per vector v the f32 scalars [A, B, S, linear] at params[4 + 4v …];
// out = fround(fround(A·v₀) + fround(B·v₁)) / S (no division when linear), + base when params[2] = 1.
// The vector of global element g: params[0] = 0 whole tensor, 1 rows of params[1] (g / len), 2 strided (g % len).

fn nuVec(p: u32, i: u32) -> f32 {
  if (params[2] == 1u) {
    return xAt(p + 1u, i) - xAt(0u, i);
  }
  return xAt(p, i);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let g = chunk.offset + i;
  var v = 0u;
  if (params[0] == 1u) {
    v = g / params[1];
  } else if (params[0] == 2u) {
    v = g % params[1];
  }
  let o = 4u + 4u * v;
  let a = paramF(o) * nuVec(0u, i);
  let b = paramF(o + 1u) * nuVec(1u, i);
  var r = a + b;
  if (paramF(o + 3u) != 1.0) {
    r = r / paramF(o + 2u);
  }
  if (params[2] == 1u) {
    r = xAt(0u, i) + r;
  }
  out[i] = r;
}
