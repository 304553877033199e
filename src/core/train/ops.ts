/**
 * The dense ops of the training engine, each a forward and its backward on the tape (tape.ts):
 * matmul (x·W for the garden's [in, out] weights, x·Wᵀ for Hugging Face's [out, in]), bias,
 * add, elementwise product, scale, ReLU, SiLU and seeded dropout. Row sums run in doubles in
 * index order; skipping exact zeros of the left operand (bag-of-words inputs are mostly zero)
 * changes no result.
 */
import { streamKey, unitAt } from '../operators/prng.ts';
import { sameTape, shapeError, type Buf, type Value } from './tape.ts';

/* ------------------------------------------------------------------ kernels (plain loops) */

/**
 * out[m,n] (+)= a[m,k] · b[k,n]. Four rows of a at a time share each row of b (twice the speed of
 * one row at a time); every element still sums over p in order, in a double, so the bytes are
 * those of the plain loop.
 */
export function mmNN(a: Buf, b: Buf, m: number, k: number, n: number, out: Buf, accumulate = false): void {
  const acc = new Float64Array(4 * n);
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    if (accumulate) for (let j = 0; j < 4 * n; j++) acc[j] = out[i * n + j];
    else acc.fill(0);
    const a0 = i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let p = 0; p < k; p++) {
      const x0 = a[a0 + p];
      const x1 = a[a1 + p];
      const x2 = a[a2 + p];
      const x3 = a[a3 + p];
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) {
        const bv = b[bp + j];
        acc[j] += x0 * bv;
        acc[n + j] += x1 * bv;
        acc[2 * n + j] += x2 * bv;
        acc[3 * n + j] += x3 * bv;
      }
    }
    out.set(acc, i * n);
  }
  for (; i < m; i++) {
    const row = acc.subarray(0, n);
    if (accumulate) for (let j = 0; j < n; j++) row[j] = out[i * n + j];
    else row.fill(0);
    const ai = i * k;
    for (let p = 0; p < k; p++) {
      const av = a[ai + p];
      if (av === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) row[j] += av * b[bp + j];
    }
    out.set(row, i * n);
  }
}

/** out[m,n] (+)= a[m,k] · b[n,k]ᵀ. */
export function mmNT(a: Buf, b: Buf, m: number, k: number, n: number, out: Buf, accumulate = false): void {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p] * b[bj + p];
      out[i * n + j] = accumulate ? out[i * n + j] + s : s;
    }
  }
}

/**
 * out[k,n] (+)= a[m,k]ᵀ · c[m,n], one output row at a time (c stays in cache; no k×n
 * accumulator), each element summed over i in order, in a double.
 */
export function mmTN(a: Buf, c: Buf, m: number, k: number, n: number, out: Buf, accumulate = false): void {
  const acc = new Float64Array(n);
  for (let p = 0; p < k; p++) {
    if (accumulate) for (let j = 0; j < n; j++) acc[j] = out[p * n + j];
    else acc.fill(0);
    for (let i = 0; i < m; i++) {
      const av = a[i * k + p];
      if (av === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) acc[j] += av * c[ci + j];
    }
    out.set(acc, p * n);
  }
}

/* ------------------------------------------------------------------ ops */

/**
 * a[m,k] · b: b is [k,n] (the garden's MLP layout), or with transB [n,k] (Hugging Face's
 * nn.Linear layout, out × in).
 */
export function matmul(a: Value, b: Value, transB = false): Value {
  const t = sameTape('matmul', a, b);
  const m = a.rows;
  const k = a.cols;
  const n = transB ? b.rows : b.cols;
  if ((transB ? b.cols : b.rows) !== k)
    throw shapeError('matmul', `[${a.rows}, ${a.cols}] · [${b.rows}, ${b.cols}]${transB ? 'ᵀ' : ''} do not chain`);
  const out = t.alloc(m * n);
  if (transB) mmNT(a.data, b.data, m, k, n, out);
  else mmNN(a.data, b.data, m, k, n, out);
  return t.result(
    out,
    m,
    n,
    [a, b],
    (o) => {
      const g = o.grad!;
      // dA = dC · Bᵀ (B [k,n]) or dC · B (B [n,k]); dB = Aᵀ · dC, or (Aᵀ · dC)ᵀ = dCᵀ · A.
      if (a.requiresGrad) {
        if (transB) mmNN(g, b.data, m, n, k, a.gradBuf(), true);
        else mmNT(g, b.data, m, n, k, a.gradBuf(), true);
      }
      if (b.requiresGrad) {
        if (transB) mmTN(g, a.data, m, n, k, b.gradBuf(), true);
        else mmTN(a.data, g, m, k, n, b.gradBuf(), true);
      }
    },
    'matmul',
  );
}

/** The same numbers seen as [rows, cols] (row-major order unchanged): Gather → Reshape of the char LM. */
export function reshape(x: Value, rows: number, cols: number): Value {
  if (rows * cols !== x.size) throw shapeError('reshape', `[${x.rows}, ${x.cols}] has ${x.size} numbers, not ${rows} × ${cols}`);
  return x.tape.result(x.data, rows, cols, [x], (o) => addInto(x.gradBuf(), o.grad!), 'reshape');
}

/** x[m,n] + bias[n] on every row. */
export function addBias(x: Value, bias: Value): Value {
  const t = sameTape('addBias', x, bias);
  const { rows: m, cols: n } = x;
  if (bias.size !== n) throw shapeError('addBias', `bias of ${bias.size} for rows of ${n}`);
  const out = t.alloc(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = x.data[i * n + j] + bias.data[j];
  return t.result(
    out,
    m,
    n,
    [x, bias],
    (o) => {
      const g = o.grad!;
      if (x.requiresGrad) addInto(x.gradBuf(), g);
      if (bias.requiresGrad) {
        const gb = bias.gradBuf();
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let i = 0; i < m; i++) s += g[i * n + j];
          gb[j] += s;
        }
      }
    },
    'addBias',
  );
}

function addInto(dst: Buf, src: Buf, scale = 1): void {
  for (let i = 0; i < dst.length; i++) dst[i] += scale * src[i];
}

function checkSame(op: string, a: Value, b: Value): void {
  if (a.rows !== b.rows || a.cols !== b.cols) throw shapeError(op, `[${a.rows}, ${a.cols}] and [${b.rows}, ${b.cols}] differ`);
}

export function add(a: Value, b: Value): Value {
  const t = sameTape('add', a, b);
  checkSame('add', a, b);
  const out = t.alloc(a.size);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] + b.data[i];
  return t.result(
    out,
    a.rows,
    a.cols,
    [a, b],
    (o) => {
      if (a.requiresGrad) addInto(a.gradBuf(), o.grad!);
      if (b.requiresGrad) addInto(b.gradBuf(), o.grad!);
    },
    'add',
  );
}

/** Elementwise product (SwiGLU's silu(gate) ⊙ up). */
export function mul(a: Value, b: Value): Value {
  const t = sameTape('mul', a, b);
  checkSame('mul', a, b);
  const out = t.alloc(a.size);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] * b.data[i];
  return t.result(
    out,
    a.rows,
    a.cols,
    [a, b],
    (o) => {
      const g = o.grad!;
      if (a.requiresGrad) {
        const ga = a.gradBuf();
        for (let i = 0; i < g.length; i++) ga[i] += g[i] * b.data[i];
      }
      if (b.requiresGrad) {
        const gb = b.gradBuf();
        for (let i = 0; i < g.length; i++) gb[i] += g[i] * a.data[i];
      }
    },
    'mul',
  );
}

/** x · s for a constant s (LoRA's alpha / r). */
export function scale(x: Value, s: number): Value {
  const out = x.tape.alloc(x.size);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] * s;
  return x.tape.result(out, x.rows, x.cols, [x], (o) => addInto(x.gradBuf(), o.grad!, s), 'scale');
}

export function relu(x: Value): Value {
  const out = x.tape.alloc(x.size);
  // NaN stays NaN (as torch.relu and onnxruntime's Relu), so a diverged run cannot hide behind it.
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] > 0 || Number.isNaN(x.data[i]) ? x.data[i] : 0;
  return x.tape.result(
    out,
    x.rows,
    x.cols,
    [x],
    (o) => {
      const g = o.grad!;
      const gx = x.gradBuf();
      for (let i = 0; i < g.length; i++) if (x.data[i] > 0) gx[i] += g[i];
    },
    'relu',
  );
}

/** SiLU x·σ(x); d/dx = σ(x)·(1 + x·(1 − σ(x))). */
export function silu(x: Value): Value {
  const out = x.tape.alloc(x.size);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] / (1 + Math.exp(-x.data[i]));
  return x.tape.result(
    out,
    x.rows,
    x.cols,
    [x],
    (o) => {
      const g = o.grad!;
      const gx = x.gradBuf();
      for (let i = 0; i < g.length; i++) {
        const s = 1 / (1 + Math.exp(-x.data[i]));
        gx[i] += g[i] * s * (1 + x.data[i] * (1 - s));
      }
    },
    'silu',
  );
}

/**
 * Inverted dropout: element i is kept iff unit(key, i) ≥ p, kept values scaled by 1/(1 − p), as
 * torch.nn.Dropout in training mode. The mask is a pure function of (key, index): the same on
 * every backend. p = 0 is the identity (no op recorded).
 */
export function dropout(x: Value, p: number, key: number): Value {
  if (!(p >= 0 && p < 1)) throw shapeError('dropout', `probability ${p} is outside [0, 1)`);
  if (p === 0) return x;
  const sk = streamKey(key >>> 0, 0);
  const keep = new Uint8Array(x.size);
  const s = 1 / (1 - p);
  const out = x.tape.alloc(x.size);
  for (let i = 0; i < out.length; i++) {
    keep[i] = unitAt(sk, i) >= p ? 1 : 0;
    out[i] = keep[i] ? x.data[i] * s : 0;
  }
  return x.tape.result(
    out,
    x.rows,
    x.cols,
    [x],
    (o) => {
      const g = o.grad!;
      const gx = x.gradBuf();
      for (let i = 0; i < g.length; i++) if (keep[i]) gx[i] += g[i] * s;
    },
    'dropout',
  );
}
