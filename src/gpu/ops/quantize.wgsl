// Block-wise symmetric quantization, dequantized (quantize.cpu.ts's fakeQuantize): one invocation
// per block of up to B elements along the last dimension. s = fround(M / qmax) for the block's
// largest magnitude M; q = clamp(round(x / s), −qmax, qmax) (round is half to even, as the CPU's
// roundHalfEven); out = q · s, and +0 for a block whose scale is 0. Chunks hold whole rows.
// Host twin: QuantizeParams in quantize.gpu.ts.

struct QuantizeParams {
  qmax: f32,         // 127 (int8) or 7 (int4)
  blockSize: u32,    // B, elements per block along the last dimension
  rowLength: u32,    // C, the last dimension
  blocksPerRow: u32, // ceil(C / B)
}

@group(0) @binding(3) var<storage, read> params: QuantizeParams;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = localIndex(wid, nwg, lid);
  let bsz = params.blockSize;
  let cols = params.rowLength;
  let blocks = params.blocksPerRow;
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
  let qmax = params.qmax;
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
