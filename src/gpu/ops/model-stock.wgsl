// Model Stock (model-stock.cpu.ts): out = fround(t·avg) + fround((1 − t)·w₀), avg = (Σ wᵢ) / N in
// parent order; t per row (the whole tensor: one row). Host twin: ModelStockParams in model-stock.gpu.ts.

struct ModelStockParams {
  rowLength: u32,     // elements per row (the whole tensor: its length)
  ratios: array<f32>, // t of each row
}

@group(0) @binding(3) var<storage, read> params: ModelStockParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = localIndex(wid, nwg, lid);
  if (i >= chunk.count) {
    return;
  }
  var acc: f32 = 0.0;
  for (var p = 1u; p < chunk.parents; p = p + 1u) {
    acc = acc + xAt(p, i);
  }
  let avg = acc / f32(chunk.parents - 1u);
  let t = params.ratios[(chunk.offset + i) / params.rowLength];
  let a = t * avg;
  let b = (1.0 - t) * xAt(0u, i);
  out[i] = a + b;
}
