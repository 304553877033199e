// C[m,n] = alpha · op(A)·op(B) (+ C when accumulate = 1), op(X) = X or Xᵀ (transA, transB), the
// one matmul of training (kernels.ts has the host): the forward x·W ([in, out] weights) or x·Wᵀ
// ([out, in]: Hugging Face and LoRA), dX = dY·Wᵀ and dW = Xᵀ·dY, and LoRA's two low-rank products.
// A is [m,k] (or [k,m] with transA), B is [k,n] (or [n,k] with transB), all row-major f32.
// 16×16 tiles through workgroup memory; every output sums its k products in order, in f32.

struct MatmulParams {
  m: u32,
  n: u32,
  k: u32,
  transA: u32,
  transB: u32,
  accumulate: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TILE = 16u;
var<workgroup> tileA: array<array<f32, 16>, 16>;
var<workgroup> tileB: array<array<f32, 16>, 16>;

fn aAt(i: u32, q: u32) -> f32 {
  if (i >= p.m || q >= p.k) {
    return 0.0;
  }
  if (p.transA == 1u) {
    return a[q * p.m + i];
  }
  return a[i * p.k + q];
}

fn bAt(q: u32, j: u32) -> f32 {
  if (q >= p.k || j >= p.n) {
    return 0.0;
  }
  if (p.transB == 1u) {
    return b[j * p.k + q];
  }
  return b[q * p.n + j];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let row = wg.y * TILE + l.y;
  let col = wg.x * TILE + l.x;
  var acc: f32 = 0.0;
  for (var t = 0u; t < p.k; t = t + TILE) {
    tileA[l.y][l.x] = aAt(row, t + l.x);
    tileB[l.y][l.x] = bAt(t + l.y, col);
    workgroupBarrier();
    for (var q = 0u; q < TILE; q = q + 1u) {
      acc = acc + tileA[l.y][q] * tileB[q][l.x];
    }
    workgroupBarrier();
  }
  if (row < p.m && col < p.n) {
    var v = p.alpha * acc;
    if (p.accumulate == 1u) {
      v = c[row * p.n + col] + v;
    }
    c[row * p.n + col] = v;
  }
}
