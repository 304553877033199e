// NuSLERP (nuslerp.cpu.ts): per vector v the scalars A, B, S and linear (nuslerpTable);
// out = fround(fround(A·v₀) + fround(B·v₁)) / S (no division when linear), + base with a base.
// Host twin: NuslerpParams in nuslerp.gpu.ts.

struct NuslerpVector {
  a: f32,
  b: f32,
  s: f32,
  linear: f32, // 1: no division by s
}

struct NuslerpParams {
  mode: u32,     // the vector of global element g: 0 the whole tensor, 1 rows (g / len), 2 strided (g % len)
  len: u32,
  withBase: u32, // 1: the first slab is a base, the vectors are deltas from it
  vectors: array<NuslerpVector>,
}

@group(0) @binding(3) var<storage, read> params: NuslerpParams;

fn nuVec(p: u32, i: u32) -> f32 {
  if (params.withBase == 1u) {
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
  if (params.mode == 1u) {
    v = g / params.len;
  } else if (params.mode == 2u) {
    v = g % params.len;
  }
  let s = params.vectors[v];
  let a = s.a * nuVec(0u, i);
  let b = s.b * nuVec(1u, i);
  var r = a + b;
  if (s.linear != 1.0) {
    r = r / s.s;
  }
  if (params.withBase == 1u) {
    r = xAt(0u, i) + r;
  }
  out[i] = r;
}
