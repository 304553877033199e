// The embedding lookup of the Llama family (kernels.ts has the host), as src/core/train/ops-llm.ts
// `embedding`: `gather` out[r, c] = table[ids[r], c] (a thread per element); `scatter` its backward
// dtable[v, c] (+)= Σ_{r: ids[r] = v} dy[r, c] (a thread per table element, rows summed in order:
// no atomics, the same sum every run). The host checks every id is inside 0..vocab − 1.

struct EmbedParams {
  rows: u32,
  cols: u32,
  vocab: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: EmbedParams;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;

@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.rows * p.cols) {
    return;
  }
  let r = i / p.cols;
  out[i] = table[u32(ids[r]) * p.cols + i % p.cols];
}

@compute @workgroup_size(256)
fn scatter(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.vocab * p.cols) {
    return;
  }
  let id = i32(i / p.cols);
  let c = i % p.cols;
  var s: f32 = 0.0;
  for (var r = 0u; r < p.rows; r = r + 1u) {
    if (ids[r] == id) {
      s = s + dy[r * p.cols + c];
    }
  }
  if (p.accumulate == 1u) {
    s = dtable[i] + s;
  }
  dtable[i] = s;
}
