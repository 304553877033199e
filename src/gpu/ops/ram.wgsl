// RAM and RAM+ (ram.cpu.ts). Host twin: RamParams in ram.gpu.ts.
// main: per model i, z = |τᵢ| > ε ? τᵢ : 0·τᵢ; term = fround(fround(z·u)·λᵢ) + fround(z·o) / max(c, 1),
//   u = (c == 1), o = (c > 1), c the models with |τ| > ε; out = base + Σ terms (model order from 0).
// reduction (term): slab z = model z: (its changed elements that another model changed too, those no other did).

struct RamParams {
  epsilon: f32,       // a delta counts as changed where |τ| > ε
  models: u32,        // P
  lambda: array<f32>, // λ per model (1 for ram)
}

@group(0) @binding(3) var<storage, read> params: RamParams;

fn ramDelta(p: u32, i: u32) -> f32 {
  return xAt(p + 1u, i) - xAt(0u, i);
}

fn ramCount(i: u32) -> u32 {
  var c = 0u;
  for (var p = 0u; p < params.models; p = p + 1u) {
    if (abs(ramDelta(p, i)) > params.epsilon) {
      c = c + 1u;
    }
  }
  return c;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let c = ramCount(i);
  var u = 0.0;
  var o = 0.0;
  if (c == 1u) {
    u = 1.0;
  }
  if (c > 1u) {
    o = 1.0;
  }
  let cf = f32(max(c, 1u));
  var acc: f32 = 0.0;
  for (var p = 0u; p < params.models; p = p + 1u) {
    let d = ramDelta(p, i);
    var z = 0.0 * d;
    if (abs(d) > params.epsilon) {
      z = d;
    }
    let a = (z * u) * params.lambda[p];
    let b = (z * o) / cf;
    acc = acc + (a + b);
  }
  out[i] = xAt(0u, i) + acc;
}

fn term(i: u32, z: u32) -> vec2<f32> {
  if (!(abs(ramDelta(z, i)) > params.epsilon)) {
    return vec2<f32>(0.0, 0.0);
  }
  if (ramCount(i) > 1u) {
    return vec2<f32>(1.0, 0.0);
  }
  return vec2<f32>(0.0, 1.0);
}
