// Deterministic crossover: each element takes parent p, the first with u < c_p (the last c is 1),
// u = randomUnit(key, g, 0) with g the global element index, its row, or 0 (crossover.cpu.ts).
// params: [granularity (0 element, 1 row, 2 tensor), row length, c_0 … c_{P-1} as f32 bits].

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let e = chunk.offset + i;
  var g = e;
  if (params[0] == 1u) {
    g = e / params[1];
  } else if (params[0] == 2u) {
    g = 0u;
  }
  let u = randomUnit(chunk.key, g, 0u);
  var pick = chunk.parents - 1u;
  for (var p = 0u; p + 1u < chunk.parents; p = p + 1u) {
    if (u < paramF(2u + p)) {
      pick = p;
      break;
    }
  }
  out[i] = xAt(pick, i);
}
