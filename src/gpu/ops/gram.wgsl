// The spherical merges' shared kernel (gram.gpu.ts; the math in src/core/operators/gram.ts).
//
// main: out = Σₖ βₖ·vₖ in vector order from 0 (+ base), βₖ = params.items[k].beta.
// reduction (term): slab z sums the products of pairs 2z and 2z + 1 of the upper-triangle list
//   (params.items[m].first, params.items[m].second).
// Host twin: GramParams in gram.gpu.ts.

// Item k: the combine's coefficient of vector k; item m: the reduction's m-th pair (each pass fills its own fields).
struct GramItem {
  beta: f32,
  first: u32,
  second: u32,
}

struct GramParams {
  withBase: u32,  // 1: the first slab is a base and the vectors are the deltas xₖ − base
  vectors: u32,   // K
  pairCount: u32, // the reduction's pairs
  items: array<GramItem>,
}

@group(0) @binding(3) var<storage, read> params: GramParams;

fn vecAt(k: u32, i: u32) -> f32 {
  if (params.withBase == 1u) {
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
  for (var k = 0u; k < params.vectors; k = k + 1u) {
    acc = acc + params.items[k].beta * vecAt(k, i);
  }
  if (params.withBase == 1u) {
    acc = xAt(0u, i) + acc;
  }
  out[i] = acc;
}

fn pairProduct(m: u32, i: u32) -> f32 {
  if (m >= params.pairCount) {
    return 0.0;
  }
  let pair = params.items[m];
  return vecAt(pair.first, i) * vecAt(pair.second, i);
}

fn term(i: u32, z: u32) -> vec2<f32> {
  return vec2<f32>(pairProduct(2u * z, i), pairProduct(2u * z + 1u, i));
}
