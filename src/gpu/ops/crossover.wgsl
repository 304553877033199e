// Deterministic crossover: each element takes parent p, the first with u < c_p (the last c is 1),
// u = randomUnit(key, g, 0) with g the global element index, its row, or 0 (crossover.cpu.ts).
// Host twin: CrossoverParams in crossover.gpu.ts.

struct CrossoverParams {
  granularity: u32,       // 0 element, 1 row, 2 tensor
  rowLength: u32,         // elements per row (granularity 1)
  thresholds: array<f32>, // c_0 … c_{P-1}, cumulative
}

@group(0) @binding(3) var<storage, read> params: CrossoverParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let e = chunk.offset + i;
  var g = e;
  if (params.granularity == 1u) {
    g = e / params.rowLength;
  } else if (params.granularity == 2u) {
    g = 0u;
  }
  let u = randomUnit(chunk.key, g, 0u);
  var pick = chunk.parents - 1u;
  for (var p = 0u; p + 1u < chunk.parents; p = p + 1u) {
    if (u < params.thresholds[p]) {
      pick = p;
      break;
    }
  }
  out[i] = xAt(pick, i);
}
