// SCE (sce.cpu.ts). Host twin: SceParams in sce.gpu.ts.
// main: τᵢ zeroed (0·τᵢ) where not kept; sign = Σ τᵢ ≥ 0; out = base + fround(Σ fround(τᵢ·wᵢmᵢ)) / max(Σ wᵢmᵢ, 1e-6).
// reduction (term): slab z = model z: (Σ τ_z², 0) over the kept elements.

struct SceParams {
  models: u32,      // P
  masked: u32,      // 1: only the elements of the keep bitmap count
  data: array<u32>, // the P weights (f32 bits), then the keep bitmap: bit g of word g >> 5 for each kept global element g
}

@group(0) @binding(3) var<storage, read> params: SceParams;

fn sceWeight(p: u32) -> f32 {
  return bitcast<f32>(params.data[p]);
}

fn sceKept(i: u32) -> bool {
  if (params.masked == 0u) {
    return true;
  }
  let g = chunk.offset + i;
  return ((params.data[params.models + (g >> 5u)] >> (g & 31u)) & 1u) == 1u;
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
  for (var p = 0u; p < params.models; p = p + 1u) {
    sum = sum + sceDelta(p, i, kept);
  }
  let pos = sum >= 0.0;
  var m: f32 = 0.0;
  var den: f32 = 0.0;
  for (var p = 0u; p < params.models; p = p + 1u) {
    let v = sceDelta(p, i, kept);
    var ew = 0.0;
    if ((pos && v > 0.0) || (!pos && v < 0.0)) {
      ew = sceWeight(p);
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
