/**
 * The transformer ops of the training engine, forward and backward, written to the Llama family's
 * definitions (src/core/models/llama.ts, transformers' modeling_llama.py): RMSNorm with a weight,
 * RoPE by rotate_half, causal softmax attention with grouped KV heads and an optional sliding
 * window, and the embedding gather. SwiGLU is silu(gate) ⊙ up from ops.ts.
 */
import { sameTape, shapeError, type Value } from './tape.ts';

/** y = x / √(mean(x²) + eps) · w on every row. */
export function rmsNorm(x: Value, w: Value, eps: number): Value {
  const t = sameTape('rmsNorm', x, w);
  const { rows: m, cols: n } = x;
  if (w.size !== n) throw shapeError('rmsNorm', `weight of ${w.size} for rows of ${n}`);
  const out = t.alloc(m * n);
  const inv = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x.data[i * n + j] ** 2;
    inv[i] = 1 / Math.sqrt(ss / n + eps);
    for (let j = 0; j < n; j++) out[i * n + j] = x.data[i * n + j] * inv[i] * w.data[j];
  }
  return t.result(
    out,
    m,
    n,
    [x, w],
    (o) => {
      const g = o.grad!;
      const gw = w.requiresGrad ? w.gradBuf() : null;
      const gx = x.requiresGrad ? x.gradBuf() : null;
      for (let i = 0; i < m; i++) {
        const r = inv[i];
        let dot = 0;
        for (let j = 0; j < n; j++) {
          const xhat = x.data[i * n + j] * r;
          if (gw) gw[j] += g[i * n + j] * xhat;
          dot += g[i * n + j] * w.data[j] * xhat;
        }
        if (gx) for (let j = 0; j < n; j++) gx[i * n + j] += r * (g[i * n + j] * w.data[j] - x.data[i * n + j] * r * (dot / n));
      }
    },
    'rmsNorm',
  );
}

/**
 * Rotary position embedding on every head of x [rows, heads·headDim], row r at position
 * positions[r]: (x₁, x₂) → (x₁·cos − x₂·sin, x₂·cos + x₁·sin) over the two halves of each head,
 * angle positions[r]·invFreq[i] (ropeInvFreq in llama-config.ts gives invFreq with its scaling).
 */
export function rope(x: Value, positions: ArrayLike<number>, headDim: number, invFreq: ArrayLike<number>): Value {
  const { rows: m, cols: n } = x;
  const half = headDim / 2;
  if (!Number.isInteger(half) || n % headDim !== 0) throw shapeError('rope', `rows of ${n} are not whole heads of an even ${headDim}`);
  if (invFreq.length !== half) throw shapeError('rope', `${invFreq.length} frequencies for half a head of ${half}`);
  if (positions.length !== m) throw shapeError('rope', `${positions.length} positions for ${m} rows`);
  const cos = new Float64Array(m * half);
  const sin = new Float64Array(m * half);
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < half; i++) {
      // The angle in f32, as the reference and onnxruntime compute it.
      const a = Math.fround(positions[r] * invFreq[i]);
      cos[r * half + i] = Math.cos(a);
      sin[r * half + i] = Math.sin(a);
    }
  }
  const rotate = (src: ArrayLike<number>, dst: { [i: number]: number }, sign: 1 | -1, acc: boolean) => {
    for (let r = 0; r < m; r++) {
      for (let h = 0; h < n; h += headDim) {
        const o = r * n + h;
        for (let i = 0; i < half; i++) {
          const c = cos[r * half + i];
          const s = sign * sin[r * half + i];
          const x1 = src[o + i];
          const x2 = src[o + i + half];
          const y1 = x1 * c - x2 * s;
          const y2 = x2 * c + x1 * s;
          dst[o + i] = acc ? dst[o + i] + y1 : y1;
          dst[o + i + half] = acc ? dst[o + i + half] + y2 : y2;
        }
      }
    }
  };
  const out = x.tape.alloc(m * n);
  rotate(x.data, out, 1, false);
  // The backward of a rotation is the rotation by the opposite angle.
  return x.tape.result(out, m, n, [x], (o) => rotate(o.grad!, x.gradBuf(), -1, true), 'rope');
}

export interface AttentionShape {
  /** Sequences in the batch; rows = batch · seqLen, row b·seqLen + i is position i of sequence b. */
  batch: number;
  seqLen: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Attend to at most this many positions back (Mistral's sliding_window); 0 = no window. */
  window?: number;
}

/**
 * softmax(q·kᵀ / √headDim + causal mask)·v per sequence and head; query head h reads KV head
 * ⌊h / (heads / kvHeads)⌋ (grouped-query attention). q [rows, heads·D], k and v [rows, kvHeads·D].
 */
export function causalAttention(q: Value, k: Value, v: Value, s: AttentionShape): Value {
  const t = sameTape('causalAttention', q, k, v);
  const { batch: B, seqLen: T, heads: NH, kvHeads: NKV, headDim: D } = s;
  const window = s.window ?? 0;
  if (NH % NKV !== 0) throw shapeError('causalAttention', `${NH} heads are not a multiple of ${NKV} KV heads`);
  if (q.rows !== B * T || k.rows !== B * T || v.rows !== B * T)
    throw shapeError('causalAttention', `rows ${q.rows}, ${k.rows}, ${v.rows} for ${B} × ${T}`);
  if (q.cols !== NH * D || k.cols !== NKV * D || v.cols !== NKV * D)
    throw shapeError('causalAttention', `columns ${q.cols}, ${k.cols}, ${v.cols} for ${NH}/${NKV} heads of ${D}`);
  const group = NH / NKV;
  const qs = NH * D;
  const ks = NKV * D;
  const scl = 1 / Math.sqrt(D);
  // probs[b][h][i][j] for j ≤ i (the rest stay 0).
  const probs = new Float64Array(B * NH * T * T);
  const out = t.alloc(B * T * qs);
  const lo = (i: number) => (window > 0 ? Math.max(0, i - window + 1) : 0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < T; i++) {
        const qo = (b * T + i) * qs + h * D;
        const po = ((b * NH + h) * T + i) * T;
        let max = -Infinity;
        for (let j = lo(i); j <= i; j++) {
          const ko = (b * T + j) * ks + g * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q.data[qo + d] * k.data[ko + d];
          probs[po + j] = dot * scl;
          if (probs[po + j] > max) max = probs[po + j];
        }
        let sum = 0;
        for (let j = lo(i); j <= i; j++) {
          probs[po + j] = Math.exp(probs[po + j] - max);
          sum += probs[po + j];
        }
        for (let j = lo(i); j <= i; j++) probs[po + j] /= sum;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = lo(i); j <= i; j++) acc += probs[po + j] * v.data[(b * T + j) * ks + g * D + d];
          out[qo + d] = acc;
        }
      }
    }
  }
  return t.result(
    out,
    B * T,
    qs,
    [q, k, v],
    (o) => {
      const go = o.grad!;
      const gq = q.requiresGrad ? q.gradBuf() : null;
      const gk = k.requiresGrad ? k.gradBuf() : null;
      const gv = v.requiresGrad ? v.gradBuf() : null;
      const dp = new Float64Array(T);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < NH; h++) {
          const g = Math.floor(h / group);
          for (let i = 0; i < T; i++) {
            const qo = (b * T + i) * qs + h * D;
            const po = ((b * NH + h) * T + i) * T;
            let rowDot = 0;
            for (let j = lo(i); j <= i; j++) {
              const vo = (b * T + j) * ks + g * D;
              let d0 = 0;
              for (let d = 0; d < D; d++) {
                d0 += go[qo + d] * v.data[vo + d];
                if (gv) gv[vo + d] += probs[po + j] * go[qo + d];
              }
              dp[j] = d0;
              rowDot += probs[po + j] * d0;
            }
            for (let j = lo(i); j <= i; j++) {
              const ds = probs[po + j] * (dp[j] - rowDot) * scl;
              const ko = (b * T + j) * ks + g * D;
              for (let d = 0; d < D; d++) {
                if (gq) gq[qo + d] += ds * k.data[ko + d];
                if (gk) gk[ko + d] += ds * q.data[qo + d];
              }
            }
          }
        }
      }
    },
    'causalAttention',
  );
}

/** Rows of table [vocab, dim] picked by ids; the backward adds each row's gradient back to its id. */
export function embedding(table: Value, ids: ArrayLike<number>): Value {
  const { rows: V, cols: H } = table;
  const out = table.tape.alloc(ids.length * H);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw shapeError('embedding', `id ${id} at row ${r} is outside 0..${V - 1}`);
    out.set(table.data.subarray(id * H, id * H + H), r * H);
  }
  return table.tape.result(
    out,
    ids.length,
    H,
    [table],
    (o) => {
      const g = o.grad!;
      const gt = table.gradBuf();
      for (let r = 0; r < ids.length; r++) for (let j = 0; j < H; j++) gt[ids[r] * H + j] += g[r * H + j];
    },
    'embedding',
  );
}
