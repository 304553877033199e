// Arcee Fusion (arcee-fusion.cpu.ts): importance = fround(|x − b|·KL(row));
// out = b + (x − b)·[importance ≥ threshold]. Host twin: ArceeFusionParams in arcee-fusion.gpu.ts.

struct ArceeFusionParams {
  rowLength: u32,  // elements per row
  threshold: f32,  // the importance a delta needs to be kept
  kl: array<f32>,  // the KL divergence of each row
}

@group(0) @binding(3) var<storage, read> params: ArceeFusionParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let b = xAt(0u, i);
  let d = xAt(1u, i) - b;
  let importance = abs(d) * params.kl[(chunk.offset + i) / params.rowLength];
  var m = 0.0;
  if (importance >= params.threshold) {
    m = 1.0;
  }
  out[i] = b + d * m;
}
