// Bounded mutation (mutate.cpu.ts): element i is mutated iff randomUnit(key, i, 1) < rate; the
// noise is clamp(fround(a · (2·randomUnit(key, i, 0) − 1)), −ε, ε); out = x + noise.
// params: [a, ε, rate] as f32 bits; a comes from the prepared std (the host's tensorStd).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let x = xAt(0u, i);
  let g = chunk.offset + i;
  if (randomUnit(chunk.key, g, 1u) >= paramF(2u)) {
    out[i] = x;
    return;
  }
  let z = 2.0 * randomUnit(chunk.key, g, 0u) - 1.0;
  let eps = paramF(1u);
  let noise = clamp(paramF(0u) * z, -eps, eps);
  out[i] = x + noise;
}

