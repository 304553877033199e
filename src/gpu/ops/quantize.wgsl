// Block-wise symmetric quantization, dequantized (quantize.cpu.ts's fakeQuantize): one invocation
// per block of up to B elements along the last dimension. s = fround(M / qmax) for the block's
// largest magnitude M; q = clamp(round(x / s), −qmax, qmax) (round is half to even, as the CPU's
// roundHalfEven); out = q · s, and +0 for a block whose scale is 0. Chunks hold whole rows.
// params: [qmax, block size B, row length C, blocks per row] (qmax as f32 bits).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = localIndex(wid, nwg, lid);
  let bsz = params[1];
  let cols = params[2];
  let blocks = params[3];
  if (j >= (chunk.count / cols) * blocks) {
    return;
  }
  let r = j / blocks;
  let b = j % blocks;
  let start = r * cols + b * bsz;
  let end = r * cols + min(cols, (b + 1u) * bsz);
  var m: f32 = 0.0;
  for (var i = start; i < end; i = i + 1u) {
    m = max(m, abs(xAt(0u, i)));
  }
  let qmax = paramF(0u);
  let s = m / qmax;
  for (var i = start; i < end; i = i + 1u) {
    if (s == 0.0) {
      out[i] = 0.0;
    } else {
      // Through an integer so that a rounded −0 becomes +0, as the CPU's Int8Array stores it.
      let q = f32(i32(clamp(round(xAt(0u, i) / s), -qmax, qmax)));
      out[i] = q * s;
    }
  }
}
