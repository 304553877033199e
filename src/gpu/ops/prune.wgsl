// Magnitude pruning: elements inside the bottom-m cutoff become +0, the rest are copied.
// params: [cutoff bits, cutoff index] (select.ts's pruning cutoff, global indices).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  let x = xAt(0u, i);
  out[i] = select(x, 0.0, isPruned(magnitudeKey(x), chunk.offset + i, params[0], params[1]));
}
