// Bounded mutation (mutate.cpu.ts): element i is mutated iff randomUnit(key, i, 1) < rate; the
// noise is clamp(fround(a · (2·randomUnit(key, i, 0) − 1)), −ε, ε); out = x + noise.
// a comes from the prepared std (the host's tensorStd). Host twin: MutateParams in mutate.gpu.ts.

struct MutateParams {
  amplitude: f32, // a = fround(strength · std · √3)
  epsilon: f32,   // ε, the noise bound
  rate: f32,      // the probability that an element is mutated
}

@group(0) @binding(3) var<storage, read> params: MutateParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let x = xAt(0u, i);
  let g = chunk.offset + i;
  if (randomUnit(chunk.key, g, 1u) >= params.rate) {
    out[i] = x;
    return;
  }
  let z = 2.0 * randomUnit(chunk.key, g, 0u) - 1.0;
  let eps = params.epsilon;
  let noise = clamp(params.amplitude * z, -eps, eps);
  out[i] = x + noise;
}

