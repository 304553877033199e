// The shared binding layout of every operator kernel (src/gpu/context.ts). Binding 2 is the
// output: `out: array<f32>` for per-element kernels, `hist: array<atomic<u32>>` for the
// selection pass; the host appends the right declaration. Binding 3 is the kernel's own
// parameter struct: each kernel file declares `struct ItsParams { … }` and
// `@group(0) @binding(3) var<storage, read> params: ItsParams;`, and its host twin (a
// wgslStruct with the same fields, src/gpu/wgsl-struct.ts) packs it. The parents of one chunk
// are packed into one buffer, one slab per parent, so any number of parents needs only four
// bindings. `chunk.offset` is the global index of the chunk's first element, so randomness and
// tie-breaks never depend on how a tensor is chunked.

override WG: u32 = 256u;

// Host twin: ChunkUniform in src/gpu/tensor-job.ts.
struct Chunk {
  count: u32,   // elements in this chunk
  stride: u32,  // distance in xs between consecutive parents' slabs (the chunk length)
  offset: u32,  // global index of this chunk's first element
  key: u32,     // per-tensor PRNG key, tensorKey(seed, name)
  parents: u32, // slabs in xs (base first when the operator has one)
  total: u32,   // elements in the whole tensor
  mode: u32,    // which variant of a multi-purpose pass (a reduction's term, the select phase)
  shift: u32,   // the radix-select pass's digit shift
}

@group(0) @binding(0) var<uniform> chunk: Chunk;
@group(0) @binding(1) var<storage, read> xs: array<f32>;

// Element `i` of this chunk in parent slab `p`.
fn xAt(p: u32, i: u32) -> f32 {
  return xs[p * chunk.stride + i];
}

// The chunk-local element index of an invocation on the 2-D dispatch grid.
fn localIndex(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}
