/**
 * The WebGPU training kernels' host: pipelines for the WGSL beside it (matmul, bias, activation,
 * cross-entropy, RMSNorm, AdamW, elementwise product and sum, and the Llama block's RoPE, causal
 * grouped-query attention and embedding lookup), storage buffers, and dispatches built once with their uniform
 * and bind group so a training step only encodes them (mlp.ts). Every dispatch is its own compute
 * pass, so one pass sees the writes of the one before. The CPU references are src/core/train
 * (ops.ts, ops-llm.ts, loss.ts, optim.ts); e2e/kernels-train.spec.ts holds the two side by side.
 */
import matmulCode from './matmul.wgsl?raw';
import biasCode from './bias.wgsl?raw';
import activationCode from './activation.wgsl?raw';
import crossEntropyCode from './cross-entropy.wgsl?raw';
import rmsNormCode from './rms-norm.wgsl?raw';
import adamwCode from './adamw.wgsl?raw';
import mulCode from './mul.wgsl?raw';
import ropeCode from './rope.wgsl?raw';
import attentionCode from './attention.wgsl?raw';
import embeddingCode from './embedding.wgsl?raw';
import { wgslStruct, type Fields, type StructValues, type WgslStruct } from '../wgsl-struct.ts';

/*
 * The kernels' parameter structs, host twins of the WGSL ones (src/gpu/wgsl-struct.test.ts
 * checks each against its .wgsl): uniforms of 4-byte scalars, packed by `packUniform`.
 */
export const MatmulParams = wgslStruct('MatmulParams', {
  m: 'u32',
  n: 'u32',
  k: 'u32',
  transA: 'u32',
  transB: 'u32',
  accumulate: 'u32',
  alpha: 'f32',
});
export const BiasParams = wgslStruct('BiasParams', { rows: 'u32', cols: 'u32', accumulate: 'u32' });
export const ActParams = wgslStruct('ActParams', { n: 'u32', kind: 'u32', accumulate: 'u32' });
export const XentParams = wgslStruct('XentParams', { rows: 'u32', cols: 'u32', scale: 'f32' });
export const RmsNormParams = wgslStruct('RmsNormParams', { rows: 'u32', cols: 'u32', eps: 'f32', accumulate: 'u32' });
export const AdamWParams = wgslStruct('AdamWParams', {
  n: 'u32',
  lr: 'f32',
  beta1: 'f32',
  beta2: 'f32',
  eps: 'f32',
  decay: 'f32',
  c1: 'f32',
  c2: 'f32',
});
export const MulParams = wgslStruct('MulParams', { n: 'u32', accumulate: 'u32' });
export const RopeParams = wgslStruct('RopeParams', { rows: 'u32', cols: 'u32', headDim: 'u32', sign: 'f32', accumulate: 'u32' });
export const AttnParams = wgslStruct('AttnParams', {
  batch: 'u32',
  seqLen: 'u32',
  heads: 'u32',
  kvHeads: 'u32',
  headDim: 'u32',
  window: 'u32',
  scale: 'f32',
  accumulate: 'u32',
});
export const EmbedParams = wgslStruct('EmbedParams', { rows: 'u32', cols: 'u32', vocab: 'u32', accumulate: 'u32' });

/** Each kernel: its WGSL, its parameter struct and its entry points. */
export const TRAIN_KERNELS = {
  matmul: { code: matmulCode, struct: MatmulParams, entries: ['main'] },
  bias: { code: biasCode, struct: BiasParams, entries: ['add', 'grad'] },
  activation: { code: activationCode, struct: ActParams, entries: ['forward', 'backward'] },
  crossEntropy: { code: crossEntropyCode, struct: XentParams, entries: ['main'] },
  rmsNorm: { code: rmsNormCode, struct: RmsNormParams, entries: ['forward', 'backwardX', 'backwardW'] },
  adamw: { code: adamwCode, struct: AdamWParams, entries: ['main'] },
  mul: { code: mulCode, struct: MulParams, entries: ['main', 'add'] },
  rope: { code: ropeCode, struct: RopeParams, entries: ['main'] },
  attention: { code: attentionCode, struct: AttnParams, entries: ['forward', 'scores', 'backwardQ', 'backwardKV'] },
  embedding: { code: embeddingCode, struct: EmbedParams, entries: ['gather', 'scatter'] },
} as const;

export type TrainKernelName = keyof typeof TRAIN_KERNELS;
type Values<K extends TrainKernelName> = StructValues<(typeof TRAIN_KERNELS)[K]['struct']['fields']>;

export const ACTIVATIONS = Object.freeze({ relu: 0, silu: 1 } as const);
export type Activation = keyof typeof ACTIVATIONS;

/** One kernel launch, ready to encode: its pipeline, uniform and bind group. */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  uniform: GPUBuffer;
  groups: [number, number];
}

export interface MatmulShape {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  accumulate?: boolean;
  alpha?: number;
}

export interface RopeShape {
  rows: number;
  cols: number;
  headDim: number;
}

/** Causal grouped-query attention's sizes (src/core/train/ops-llm.ts AttentionShape; window 0 = none). */
export interface AttentionDims {
  batch: number;
  seqLen: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  window: number;
}

function attnValues(s: AttentionDims, accumulate: boolean): Values<'attention'> {
  if (s.heads % s.kvHeads !== 0) throw new Error(`attention: ${s.heads} heads are not a multiple of ${s.kvHeads} KV heads`);
  return { ...s, scale: 1 / Math.sqrt(s.headDim), accumulate: accumulate ? 1 : 0 };
}

/**
 * RoPE's tables for rows at `positions`: cos and sin [rows, invFreq.length] of the f32 angle
 * position·invFreq[i], computed in doubles and rounded to f32 (src/core/train/ops-llm.ts `rope`
 * computes the same angle; ropeInvFreq in llama-config.ts gives invFreq with rope_theta and rope_scaling).
 */
export function ropeTables(positions: ArrayLike<number>, invFreq: ArrayLike<number>): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let r = 0; r < positions.length; r++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(positions[r] * invFreq[i]);
      cos[r * half + i] = Math.cos(a);
      sin[r * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

const MAX_GROUPS = 65535;

/** A 1-D launch of `count` threads in workgroups of `size`, folded into a second dimension past 65535 groups. */
function linear(count: number, size: number): [number, number] {
  const g = Math.max(1, Math.ceil(count / size));
  const x = Math.min(g, MAX_GROUPS);
  return [x, Math.ceil(g / x)];
}

const u = (b: boolean | undefined) => (b ? 1 : 0);

/** The uniform bytes of `kernel`'s parameter struct holding `values`. */
function uniformBytes<K extends TrainKernelName>(kernel: K, values: Values<K>): ArrayBuffer {
  return (TRAIN_KERNELS[kernel].struct as WgslStruct<Fields>).packUniform(values);
}

/** Pipelines by device, shared by every TrainKernels on it (a trainer built again compiles nothing). */
const PIPELINES = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

export class TrainKernels {
  private readonly pipelines: Map<string, GPUComputePipeline>;
  private readonly owned: GPUBuffer[] = [];

  constructor(readonly device: GPUDevice) {
    let p = PIPELINES.get(device);
    if (!p) PIPELINES.set(device, (p = new Map()));
    this.pipelines = p;
  }

  private pipeline(kernel: TrainKernelName, entry: string): GPUComputePipeline {
    const key = `${kernel}.${entry}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const def = TRAIN_KERNELS[kernel];
      const module = this.device.createShaderModule({ label: `train ${kernel}`, code: def.code });
      p = this.device.createComputePipeline({ label: `train ${key}`, layout: 'auto', compute: { module, entryPoint: entry } });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** A storage buffer of `data` (copied) or of `n` zero floats. */
  storage(data: Float32Array | Int32Array | number, label: string): GPUBuffer {
    const bytes = typeof data === 'number' ? 4 * data : data.byteLength;
    const buf = this.device.createBuffer({
      label,
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    if (typeof data !== 'number') this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    this.owned.push(buf);
    return buf;
  }

  write(buf: GPUBuffer, data: Float32Array | Int32Array): void {
    this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** The first `counts[i]` floats of each buffer, copied out in one submission. */
  async read(bufs: readonly GPUBuffer[], counts: readonly number[]): Promise<Float32Array[]> {
    const enc = this.device.createCommandEncoder({ label: 'train read' });
    const staging = bufs.map((b, i) => {
      const size = Math.max(16, Math.ceil((4 * counts[i]) / 16) * 16);
      const s = this.device.createBuffer({ label: `read ${b.label}`, size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.copyBufferToBuffer(b, 0, s, 0, Math.min(size, b.size));
      return s;
    });
    this.device.queue.submit([enc.finish()]);
    return Promise.all(
      staging.map(async (s, i) => {
        await s.mapAsync(GPUMapMode.READ);
        const out = new Float32Array(s.getMappedRange(0, s.size).slice(0, 4 * counts[i]));
        s.unmap();
        s.destroy();
        return out;
      }),
    );
  }

  /** A launch of `kernel.entry` with `values` in its parameter struct and `bindings` by binding number. */
  dispatch<K extends TrainKernelName>(
    kernel: K,
    entry: (typeof TRAIN_KERNELS)[K]['entries'][number],
    values: Values<K>,
    bindings: Record<number, GPUBuffer>,
    groups: [number, number],
  ): Dispatch {
    const pipeline = this.pipeline(kernel, entry);
    const bytes = uniformBytes(kernel, values);
    const uniform = this.device.createBuffer({
      label: `${kernel}.${entry} params`,
      size: bytes.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(uniform, 0, bytes);
    this.owned.push(uniform);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
    for (const [b, buffer] of Object.entries(bindings)) entries.push({ binding: Number(b), resource: { buffer } });
    const bindGroup = this.device.createBindGroup({ label: `${kernel}.${entry}`, layout: pipeline.getBindGroupLayout(0), entries });
    return { label: `${kernel}.${entry}`, pipeline, bindGroup, uniform, groups };
  }

  /** New values for a dispatch's parameter struct (AdamW's learning rate and bias corrections each step). */
  setParams<K extends TrainKernelName>(d: Dispatch, kernel: K, values: Values<K>): void {
    this.device.queue.writeBuffer(d.uniform, 0, uniformBytes(kernel, values));
  }

  /** Encode the dispatches in order, one compute pass each, and submit them. */
  run(ds: readonly Dispatch[]): void {
    const enc = this.device.createCommandEncoder({ label: 'train step' });
    for (const d of ds) {
      const pass = enc.beginComputePass({ label: d.label });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.groups[0], d.groups[1]);
      pass.end();
    }
    this.device.queue.submit([enc.finish()]);
  }

  /** Resolves once the queue has finished everything submitted so far. */
  done(): Promise<void> {
    return this.device.queue.onSubmittedWorkDone();
  }

  /** Destroy every buffer this host made. */
  destroy(): void {
    for (const b of this.owned.splice(0)) b.destroy();
  }

  /* ---------------------------------------------------------------- the ops */

  /** c[m,n] = alpha · op(a)·op(b) (+ c): forward x·W or x·Wᵀ, dX = dY·Wᵀ (transB), dW = Xᵀ·dY (transA). */
  matmul(a: GPUBuffer, b: GPUBuffer, c: GPUBuffer, s: MatmulShape): Dispatch {
    const values = {
      m: s.m,
      n: s.n,
      k: s.k,
      transA: u(s.transA),
      transB: u(s.transB),
      accumulate: u(s.accumulate),
      alpha: s.alpha ?? 1,
    };
    const groups: [number, number] = [Math.ceil(s.n / 16), Math.ceil(s.m / 16)];
    if (groups[0] > MAX_GROUPS || groups[1] > MAX_GROUPS)
      throw new Error(`matmul ${s.m}×${s.k}·${s.k}×${s.n}: more than ${16 * MAX_GROUPS} rows or columns`);
    return this.dispatch('matmul', 'main', values, { 1: a, 2: b, 3: c }, groups);
  }

  /** x[rows, cols] += bias on every row, in place. */
  biasAdd(x: GPUBuffer, bias: GPUBuffer, rows: number, cols: number): Dispatch {
    return this.dispatch('bias', 'add', { rows, cols, accumulate: 0 }, { 1: bias, 2: x }, linear(rows * cols, 256));
  }

  /** db (+)= the column sums of dy [rows, cols]. */
  biasGrad(dy: GPUBuffer, db: GPUBuffer, rows: number, cols: number, accumulate = false): Dispatch {
    return this.dispatch('bias', 'grad', { rows, cols, accumulate: u(accumulate) }, { 3: dy, 4: db }, linear(cols, 64));
  }

  /** y = f(x) elementwise (x and y may not be the same buffer). */
  activation(kind: Activation, x: GPUBuffer, y: GPUBuffer, n: number): Dispatch {
    return this.dispatch('activation', 'forward', { n, kind: ACTIVATIONS[kind], accumulate: 0 }, { 1: x, 2: y }, linear(n, 256));
  }

  /** dx (+)= dy · f'(x), x the forward's input. */
  activationGrad(kind: Activation, x: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, n: number, accumulate = false): Dispatch {
    const values = { n, kind: ACTIVATIONS[kind], accumulate: u(accumulate) };
    return this.dispatch('activation', 'backward', values, { 1: x, 3: dy, 4: dx }, linear(n, 256));
  }

  /** rowLoss[r] and dz = (softmax(z) − onehot) / counted: the forward and backward of the mean cross-entropy. */
  crossEntropy(z: GPUBuffer, labels: GPUBuffer, rowLoss: GPUBuffer, dz: GPUBuffer, rows: number, cols: number, counted: number): Dispatch {
    const values = { rows, cols, scale: 1 / Math.max(1, counted) };
    return this.dispatch('crossEntropy', 'main', values, { 1: z, 2: labels, 3: rowLoss, 4: dz }, linear(rows, 64));
  }

  /** y = RMSNorm(x)·w, keeping inv[r] for the backward. */
  rmsNorm(x: GPUBuffer, w: GPUBuffer, y: GPUBuffer, inv: GPUBuffer, rows: number, cols: number, eps: number): Dispatch {
    return this.dispatch('rmsNorm', 'forward', { rows, cols, eps, accumulate: 0 }, { 1: x, 2: w, 3: y, 4: inv }, linear(rows, 64));
  }

  /** The two halves of RMSNorm's backward: dx (a thread per row) and dw (a thread per column). */
  rmsNormGrad(
    x: GPUBuffer,
    w: GPUBuffer,
    inv: GPUBuffer,
    dy: GPUBuffer,
    dx: GPUBuffer,
    dw: GPUBuffer,
    rows: number,
    cols: number,
    accumulate = false,
  ): [Dispatch, Dispatch] {
    const values = { rows, cols, eps: 0, accumulate: u(accumulate) };
    return [
      this.dispatch('rmsNorm', 'backwardX', values, { 1: x, 2: w, 5: dy, 6: inv, 7: dx }, linear(rows, 64)),
      this.dispatch('rmsNorm', 'backwardW', values, { 1: x, 5: dy, 6: inv, 8: dw }, linear(cols, 64)),
    ];
  }

  /** out (+)= a ⊙ b elementwise over n values (LoRA dropout's mask, forward and backward). */
  mul(a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, n: number, accumulate = false): Dispatch {
    return this.dispatch('mul', 'main', { n, accumulate: u(accumulate) }, { 1: a, 2: b, 3: out }, linear(n, 256));
  }

  /** out (+)= a + b elementwise over n values (a residual connection). */
  add(a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, n: number, accumulate = false): Dispatch {
    return this.dispatch('mul', 'add', { n, accumulate: u(accumulate) }, { 1: a, 2: b, 3: out }, linear(n, 256));
  }

  /**
   * RoPE on x [rows, cols] (whole heads of headDim) into y with the host's tables cos, sin
   * [rows, headDim / 2] (ropeTables); `inverse` rotates by −θ, the backward (y (+)= R(−θ)·x).
   */
  rope(x: GPUBuffer, cos: GPUBuffer, sin: GPUBuffer, y: GPUBuffer, s: RopeShape, inverse = false, accumulate = false): Dispatch {
    if (s.headDim % 2 !== 0 || s.cols % s.headDim !== 0)
      throw new Error(`rope: rows of ${s.cols} are not whole heads of an even ${s.headDim}`);
    const values = { rows: s.rows, cols: s.cols, headDim: s.headDim, sign: inverse ? -1 : 1, accumulate: u(accumulate) };
    return this.dispatch('rope', 'main', values, { 1: x, 2: cos, 3: sin, 4: y }, linear((s.rows * s.cols) / 2, 256));
  }

  /** Causal GQA forward: out [rows, heads·D] and the probabilities P [batch, heads, T, T] kept for the backward. */
  attention(q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, probs: GPUBuffer, out: GPUBuffer, s: AttentionDims): Dispatch {
    return this.dispatch(
      'attention',
      'forward',
      attnValues(s, false),
      { 1: q, 2: k, 3: v, 4: probs, 5: out },
      linear(s.batch * s.heads * s.seqLen, 64),
    );
  }

  /**
   * The backward of `attention` from dout: dS (scratch [batch, heads, T, T]), then dq, and dk with
   * dv (each (+)= with accumulate).
   */
  attentionGrad(
    f: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; probs: GPUBuffer; dout: GPUBuffer },
    g: { dscores: GPUBuffer; dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer },
    s: AttentionDims,
    accumulate = false,
  ): Dispatch[] {
    const values = attnValues(s, accumulate);
    const rows = s.batch * s.seqLen;
    return [
      this.dispatch(
        'attention',
        'scores',
        values,
        { 3: f.v, 6: f.dout, 7: f.probs, 8: g.dscores },
        linear(s.batch * s.heads * s.seqLen, 64),
      ),
      this.dispatch('attention', 'backwardQ', values, { 2: f.k, 9: g.dscores, 10: g.dq }, linear(rows * s.heads * s.headDim, 64)),
      this.dispatch(
        'attention',
        'backwardKV',
        values,
        { 1: f.q, 6: f.dout, 7: f.probs, 9: g.dscores, 11: g.dk, 12: g.dv },
        linear(rows * s.kvHeads * s.headDim, 64),
      ),
    ];
  }

  /** out [ids, cols] = table[ids] (ids checked by the host). */
  embedding(ids: GPUBuffer, table: GPUBuffer, out: GPUBuffer, rows: number, cols: number, vocab: number): Dispatch {
    return this.dispatch(
      'embedding',
      'gather',
      { rows, cols, vocab, accumulate: 0 },
      { 1: ids, 2: table, 3: out },
      linear(rows * cols, 256),
    );
  }

  /** dtable [vocab, cols] (+)= each row of dy added to its id's row: the embedding's backward. */
  embeddingGrad(ids: GPUBuffer, dy: GPUBuffer, dtable: GPUBuffer, rows: number, cols: number, vocab: number, accumulate = false): Dispatch {
    const values = { rows, cols, vocab, accumulate: u(accumulate) };
    return this.dispatch('embedding', 'scatter', values, { 1: ids, 4: dy, 5: dtable }, linear(vocab * cols, 256));
  }

  /** One AdamW update of w (with its moments m, v) from gradient g; values from adamwValues. */
  adamw(g: GPUBuffer, w: GPUBuffer, m: GPUBuffer, v: GPUBuffer, values: Values<'adamw'>): Dispatch {
    return this.dispatch('adamw', 'main', values, { 1: g, 2: w, 3: m, 4: v }, linear(values.n, 256));
  }
}

/** AdamW's struct at optimizer step t (1-based, after the increment) as src/core/train/optim.ts computes it. */
export function adamwValues(
  n: number,
  cfg: { beta1: number; beta2: number; eps: number; weightDecay: number },
  lr: number,
  t: number,
  decay: boolean,
): Values<'adamw'> {
  return {
    n,
    lr,
    beta1: cfg.beta1,
    beta2: cfg.beta2,
    eps: cfg.eps,
    decay: decay ? 1 - lr * cfg.weightDecay : 1,
    c1: 1 - cfg.beta1 ** t,
    c2: 1 - cfg.beta2 ** t,
  };
}
