// SCE (sce.cpu.ts). params: [P, masked, 0, 0, w₀ … w_{P−1}, keep bitmap…] (weights f32 bits; the
// bitmap, when masked = 1, holds bit g of word g >> 5 for each kept global element g).
// main: τᵢ zeroed (0·τᵢ) where not kept; sign = Σ τᵢ ≥ 0; out = base + fround(Σ fround(τᵢ·wᵢmᵢ)) / max(Σ wᵢmᵢ, 1e-6).
// reduction (term): slab z = model z: (Σ τ_z², 0) over the kept elements.

fn sceKept(i: u32) -> bool {
  if (params[1] == 0u) {
    return true;
  }
  let g = chunk.offset + i;
  return ((params[4u + params[0] + (g >> 5u)] >> (g & 31u)) & 1u) == 1u;
}

fn sceDelta(p: u32, i: u32, kept: bool) -> f32 {
  let d = xAt(p + 1u, i) - xAt(0u, i);
  if (kept) {
    return d;
  }
  return 0.0 * d;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let kept = sceKept(i);
  var sum: f32 = 0.0;
  for (var p = 0u; p < params[0]; p = p + 1u) {
    sum = sum + sceDelta(p, i, kept);
  }
  let pos = sum >= 0.0;
  var m: f32 = 0.0;
  var den: f32 = 0.0;
  for (var p = 0u; p < params[0]; p = p + 1u) {
    let v = sceDelta(p, i, kept);
    var ew = 0.0;
    if ((pos && v > 0.0) || (!pos && v < 0.0)) {
      ew = paramF(4u + p);
    }
    m = m + v * ew;
    den = den + ew;
  }
  out[i] = xAt(0u, i) + m / max(den, 1e-6);
}

fn term(i: u32, z: u32) -> vec2<f32> {
  let v = sceDelta(z, i, sceKept(i));
  return vec2<f32>(v * v, 0.0);
}
