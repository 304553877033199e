// Magnitude pruning: elements inside the bottom-m cutoff become +0, the rest are copied.
// Host twin: PruneParams in prune.gpu.ts.

struct PruneParams {
  cutoffBits: u32,  // select.ts's pruning cutoff (radix-select.ts on the GPU) …
  cutoffIndex: u32, // … over global indices
}

@group(0) @binding(3) var<storage, read> params: PruneParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let x = xAt(0u, i);
  out[i] = select(x, 0.0, isPruned(magnitudeKey(x), chunk.offset + i, params.cutoffBits, params.cutoffIndex));
}
