// Arcee Fusion (arcee-fusion.cpu.ts). params: [row length, threshold (f32 bits), 0, 0, KL per row…].
// importance = fround(|x − b|·KL(row)); out = b + (x − b)·[importance ≥ threshold].

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let b = xAt(0u, i);
  let d = xAt(1u, i) - b;
  let importance = abs(d) * paramF(4u + (chunk.offset + i) / params[0]);
  var m = 0.0;
  if (importance >= paramF(1u)) {
    m = 1.0;
  }
  out[i] = b + d * m;
}
