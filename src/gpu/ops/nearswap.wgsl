// NearSwap (nearswap.cpu.ts): w = clamp(fround(1 / max(|a − b|, 1e-6)) · t, 0, 1) (torch's
// reciprocal form), out = fround(w·b) + fround((1 − w)·a). Host twin: NearswapParams in nearswap.gpu.ts.

struct NearswapParams {
  t: f32, // the similarity threshold
}

@group(0) @binding(3) var<storage, read> params: NearswapParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let a = xAt(0u, i);
  let b = xAt(1u, i);
  let d = abs(a - b);
  let r = 1.0 / max(d, 1e-6);
  let w = clamp(r * params.t, 0.0, 1.0);
  let x = w * b;
  let y = (1.0 - w) * a;
  out[i] = x + y;
}
