/**
 * A LoRA step of the Llama-family decoder (Llama, Mistral, Qwen2) on the WebGPU training kernels:
 * the step src/core/train/llama.ts llamaAdapterSteps runs on the CPU tape, for batches of
 * `batch` windows of `seqLen` tokens. The base stays frozen on the device (f32); the trainables
 * are core adapterParams' lora_A / lora_B per module, with their decay flags, and AdamW's moments.
 *
 *   h = embed[ids];  per layer: n = RMSNorm(h); h += o(attn(RoPE(q n), RoPE(k n), v n));
 *   n = RMSNorm(h); h += down(silu(gate n) ⊙ up n);  logits = RMSNorm(h)·(lm_head or embed)ᵀ
 *
 * Each linear layer is x·Wᵀ (+ bias) + s·(dropout(x)·Aᵀ)·Bᵀ as core loraLinear; LoRA dropout
 * takes the CPU engine's mask (the core's `dropout` of ones at tensorKey(dropoutKey, module),
 * dropoutKeyOf(seed, step) as llamaAdapterSteps), uploaded each step. The backward runs from
 * the cross-entropy down to the lowest layer holding a LoRA module. Every step copies the trained
 * tensors back into the adapter's arrays, so the caller's adapter is current after each step.
 */
import { layerPrefix, ropeInvFreq, type CausalLmConfig } from '../../core/models/llama-config.ts';
import type { Tensor } from '../../core/tensor.ts';
import { batches, type LoopOptions, type StepReport } from '../../core/train/loop.ts';
import { loraScaling, type Adapter } from '../../core/train/lora.ts';
import { adapterParams } from '../../core/train/mlp.ts';
import { dropoutKeyOf, windowIds } from '../../core/train/llama.ts';
import { ADAMW_DEFAULTS, learningRate, type AdamWConfig, type AdamWState, type Schedule } from '../../core/train/optim.ts';
import { TrainKernels, ropeTables, type AttentionDims, type Dispatch } from './kernels.ts';
import { loraBackward, loraForward, type LoraShape } from './lora.ts';
import { batchLabels, frozenTensors, lossAndUpdate, loraDropoutMask, trainableBufs, type TrainableBufs } from './steps.ts';

/** Why the GPU Llama step cannot train this adapter (the CPU engine can), or null. */
export function gpuLlamaUnsupported(adapter: Adapter): string | null {
  if (adapter.saved.size > 0) return 'modules_to_save trains whole tensors; the GPU Llama step trains LoRA pairs only';
  if (adapter.lora.size === 0) return 'the adapter has no LoRA pair';
  return null;
}

/** One linear layer on the device: its forward, and its backward built once dy (and dx) are known. */
interface LinearNode {
  y: GPUBuffer;
  forward: Dispatch[];
  /** dW is frozen: dx (+)= dy·W (+ LoRA's dx), and the LoRA pair's dA, dB. dx null: no input gradient. */
  backward(dy: GPUBuffer, dx: GPUBuffer | null, accumulate: boolean): Dispatch[];
}

export interface GpuLlamaStep {
  loss: number;
  /** This step's gradients by trainable name (adapterParams' names), when asked for. */
  grads?: Record<string, Float32Array>;
}

export class GpuLlamaLoraTrainer {
  private readonly k: TrainKernels;
  private readonly ids: GPUBuffer;
  private readonly targets: GPUBuffer;
  private readonly rowLoss: GPUBuffer;
  private readonly params: TrainableBufs[];
  private synced: AdamWState | null = null;
  private readonly forwardBackward: Dispatch[];
  private readonly xent: Dispatch;
  private readonly masks: { module: string; buf: GPUBuffer; cols: number }[] = [];
  private readonly ones: { buf: Float32Array | null } = { buf: null };
  private t = 0;

  constructor(
    device: GPUDevice,
    readonly config: CausalLmConfig,
    baseTensors: readonly Tensor[],
    readonly adapter: Adapter,
    readonly batch: number,
    readonly seqLen: number,
    readonly adamw: Omit<AdamWConfig, 'lr'> = ADAMW_DEFAULTS,
  ) {
    const c = config;
    const B = batch;
    const T = seqLen;
    if (!Number.isInteger(B) || B < 1) throw new Error(`batch must be a positive integer, got ${B}`);
    if (!Number.isInteger(T) || T < 2) throw new Error(`seq_len must be an integer of at least 2, got ${T}`);
    const why = gpuLlamaUnsupported(adapter);
    if (why) throw new Error(why);
    const R = B * T;
    const H = c.hiddenSize;
    const D = c.headDim;
    const Q = c.numHeads * D;
    const KV = c.numKvHeads * D;
    const I = c.intermediateSize;
    const V = c.vocabSize;
    const k = (this.k = new TrainKernels(device));
    const base = new Map(baseTensors.map((t) => [t.name, t]));
    this.params = trainableBufs(k, adapterParams(adapter), this.adamw);
    const byName = new Map(this.params.map((q) => [q.p.name, q]));
    const tensor = frozenTensors(k, baseTensors);
    this.ids = k.storage(R, 'ids');
    this.targets = k.storage(R, 'targets');
    this.rowLoss = k.storage(R, 'row loss');
    const positions = Int32Array.from({ length: R }, (_, i) => i % T);
    const tables = ropeTables(positions, ropeInvFreq(c));
    const cos = k.storage(tables.cos, 'rope cos');
    const sin = k.storage(tables.sin, 'rope sin');
    const normScratch = k.storage(Math.max(H, 1), 'rmsnorm dw (frozen: not run)');

    const linear = (module: string, x: GPUBuffer, inF: number, outF: number): LinearNode => {
      const w = tensor(`${module}.weight`);
      const y = k.storage(R * outF, `${module} out`);
      const forward = [k.matmul(x, w, y, { m: R, k: inF, n: outF, transB: true })];
      if (base.has(`${module}.bias`)) forward.push(k.biasAdd(y, tensor(`${module}.bias`), R, outF));
      const pair = adapter.lora.get(module);
      if (!pair) {
        return {
          y,
          forward,
          backward: (dy, dx, acc) => (dx ? [k.matmul(dy, w, dx, { m: R, k: outF, n: inF, accumulate: acc })] : []),
        };
      }
      const a = byName.get(`${module}.lora_A`)!;
      const b = byName.get(`${module}.lora_B`)!;
      const n = R * inF;
      const mask = adapter.config.dropout > 0 ? k.storage(n, `${module} dropout mask`) : null;
      const xd = mask ? k.storage(n, `dropout(${module} in)`) : x;
      if (mask) {
        this.masks.push({ module, buf: mask, cols: inF });
        forward.push(k.mul(x, mask, xd, n));
      }
      const l = { x: xd, a: a.w, b: b.w, t: k.storage(R * pair.r, `${module} x·Aᵀ`) };
      const shape: LoraShape = { rows: R, inFeatures: inF, outFeatures: outF, r: pair.r, scaling: loraScaling(adapter.config, pair.r) };
      forward.push(...loraForward(k, l, y, shape));
      const dt = k.storage(R * pair.r, `d ${module} x·Aᵀ`);
      const dxd = mask ? k.storage(n, `d dropout(${module} in)`) : null;
      return {
        y,
        forward,
        backward(dy, dx, acc) {
          // The base path's dx first (it may overwrite); LoRA's adds to it.
          const ds = dx ? [k.matmul(dy, w, dx, { m: R, k: outF, n: inF, accumulate: acc })] : [];
          if (!mask || !dx) ds.push(...loraBackward(k, l, { dy, dt, da: a.g, db: b.g, ...(dx ? { dx } : {}) }, shape));
          else
            ds.push(
              ...loraBackward(k, l, { dy, dt, da: a.g, db: b.g }, shape),
              k.matmul(dt, a.w, dxd!, { m: R, k: pair.r, n: inF }),
              k.mul(dxd!, mask, dx, n, true),
            );
          return ds;
        },
      };
    };

    // The lowest layer with a LoRA module (numLayers: lm_head only): the backward stops there.
    const layerOf = (module: string) => {
      const m = /^model\.layers\.(\d+)\./.exec(module);
      return m ? Number(m[1]) : c.numLayers;
    };
    const lowest = Math.min(...[...adapter.lora.keys()].map(layerOf));
    const attn: AttentionDims = { batch: B, seqLen: T, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: D, window: c.slidingWindow ?? 0 };
    const scratch = (n: number, label: string) => k.storage(n, label);

    const forward: Dispatch[] = [];
    const h0 = scratch(R * H, 'h 0 (embedding)');
    forward.push(k.embedding(this.ids, tensor('model.embed_tokens.weight'), h0, R, H, V));
    /** Per layer, the backward from d(layer output) to d(layer input) (dx null below the lowest LoRA). */
    const layerBackward: ((dOut: GPUBuffer, dIn: GPUBuffer | null) => Dispatch[])[] = [];
    let h = h0;
    const dscores = scratch(B * c.numHeads * T * T, 'attention dS');
    for (let li = 0; li < c.numLayers; li++) {
      const p = layerPrefix(li);
      const hIn = h;
      const wIn = tensor(`${p}input_layernorm.weight`);
      const n1 = scratch(R * H, `${p}n1`);
      const inv1 = scratch(R, `${p}inv1`);
      forward.push(k.rmsNorm(hIn, wIn, n1, inv1, R, H, c.rmsNormEps));
      const q = linear(`${p}self_attn.q_proj`, n1, H, Q);
      const kk = linear(`${p}self_attn.k_proj`, n1, H, KV);
      const v = linear(`${p}self_attn.v_proj`, n1, H, KV);
      const qr = scratch(R * Q, `${p}rope(q)`);
      const kr = scratch(R * KV, `${p}rope(k)`);
      const probs = scratch(B * c.numHeads * T * T, `${p}attention P`);
      const att = scratch(R * Q, `${p}attention out`);
      forward.push(...q.forward, ...kk.forward, ...v.forward);
      forward.push(
        k.rope(q.y, cos, sin, qr, { rows: R, cols: Q, headDim: D }),
        k.rope(kk.y, cos, sin, kr, { rows: R, cols: KV, headDim: D }),
      );
      forward.push(k.attention(qr, kr, v.y, probs, att, attn));
      const o = linear(`${p}self_attn.o_proj`, att, Q, H);
      const hMid = scratch(R * H, `${p}h mid`);
      forward.push(...o.forward, k.add(hIn, o.y, hMid, R * H));
      const wPost = tensor(`${p}post_attention_layernorm.weight`);
      const n2 = scratch(R * H, `${p}n2`);
      const inv2 = scratch(R, `${p}inv2`);
      forward.push(k.rmsNorm(hMid, wPost, n2, inv2, R, H, c.rmsNormEps));
      const gate = linear(`${p}mlp.gate_proj`, n2, H, I);
      const up = linear(`${p}mlp.up_proj`, n2, H, I);
      const sg = scratch(R * I, `${p}silu(gate)`);
      const gated = scratch(R * I, `${p}silu(gate)·up`);
      forward.push(...gate.forward, ...up.forward, k.activation('silu', gate.y, sg, R * I), k.mul(sg, up.y, gated, R * I));
      const down = linear(`${p}mlp.down_proj`, gated, I, H);
      const hOut = scratch(R * H, `h ${li + 1}`);
      forward.push(...down.forward, k.add(hMid, down.y, hOut, R * H));
      h = hOut;
      if (li < lowest) {
        layerBackward.push(() => []);
        continue;
      }
      layerBackward.push((dOut, dIn) => {
        const dGated = scratch(R * I, `${p}d gated`);
        const dSg = scratch(R * I, `${p}d silu(gate)`);
        const dUp = scratch(R * I, `${p}d up`);
        const dGate = scratch(R * I, `${p}d gate`);
        const dn2 = scratch(R * H, `${p}d n2`);
        const dxn2 = scratch(R * H, `${p}d n2 → h mid`);
        const dMid = scratch(R * H, `${p}d h mid`);
        const dAtt = scratch(R * Q, `${p}d attention out`);
        const dqr = scratch(R * Q, `${p}d rope(q)`);
        const dkr = scratch(R * KV, `${p}d rope(k)`);
        const dq = scratch(R * Q, `${p}d q`);
        const dk = scratch(R * KV, `${p}d k`);
        const dv = scratch(R * KV, `${p}d v`);
        const ds: Dispatch[] = [
          ...down.backward(dOut, dGated, false),
          k.mul(dGated, up.y, dSg, R * I),
          k.mul(dGated, sg, dUp, R * I),
          k.activationGrad('silu', gate.y, dSg, dGate, R * I),
          ...gate.backward(dGate, dn2, false),
          ...up.backward(dUp, dn2, true),
          k.rmsNormGrad(hMid, wPost, inv2, dn2, dxn2, normScratch, R, H)[0],
          k.add(dOut, dxn2, dMid, R * H),
          ...o.backward(dMid, dAtt, false),
          ...k.attentionGrad({ q: qr, k: kr, v: v.y, probs, dout: dAtt }, { dscores, dq: dqr, dk: dkr, dv }, attn),
          k.rope(dqr, cos, sin, dq, { rows: R, cols: Q, headDim: D }, true),
          k.rope(dkr, cos, sin, dk, { rows: R, cols: KV, headDim: D }, true),
        ];
        const dn1 = dIn ? scratch(R * H, `${p}d n1`) : null;
        ds.push(...q.backward(dq, dn1, false), ...kk.backward(dk, dn1, true), ...v.backward(dv, dn1, true));
        if (dIn && dn1) {
          const dxn1 = scratch(R * H, `${p}d n1 → h in`);
          ds.push(k.rmsNormGrad(hIn, wIn, inv1, dn1, dxn1, normScratch, R, H)[0], k.add(dMid, dxn1, dIn, R * H));
        }
        return ds;
      });
    }
    const wNorm = tensor('model.norm.weight');
    const f = scratch(R * H, 'final norm');
    const invF = scratch(R, 'final norm inv');
    forward.push(k.rmsNorm(h, wNorm, f, invF, R, H, c.rmsNormEps));
    const head: LinearNode = c.tieWordEmbeddings
      ? (() => {
          const e = tensor('model.embed_tokens.weight');
          const y = scratch(R * V, 'logits');
          return {
            y,
            forward: [k.matmul(f, e, y, { m: R, k: H, n: V, transB: true })],
            backward: (dy, dx, acc) => (dx ? [k.matmul(dy, e, dx, { m: R, k: V, n: H, accumulate: acc })] : []),
          };
        })()
      : linear('lm_head', f, H, V);
    forward.push(...head.forward);
    const dLogits = scratch(R * V, 'd logits');
    this.xent = k.crossEntropy(head.y, this.targets, this.rowLoss, dLogits, R, V, R);
    const backward: Dispatch[] = [this.xent];
    const below = lowest < c.numLayers;
    const df = below ? scratch(R * H, 'd final norm') : null;
    backward.push(...head.backward(dLogits, df, false));
    if (below) {
      let dOut = scratch(R * H, `d h ${c.numLayers}`);
      backward.push(k.rmsNormGrad(h, wNorm, invF, df!, dOut, normScratch, R, H)[0]);
      for (let li = c.numLayers - 1; li >= lowest; li--) {
        const dIn = li > lowest ? scratch(R * H, `d h ${li}`) : null;
        backward.push(...layerBackward[li](dOut, dIn));
        if (dIn) dOut = dIn;
      }
    }
    this.forwardBackward = [...forward, ...backward];
  }

  /** Optimizer steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * One step on `ids` [batch·seqLen] (windows of seqLen, next-token targets within each) at
   * learning rate lr; the adapter's arrays hold the updated tensors when it resolves. Throws on a
   * non-finite loss before any update.
   */
  async step(ids: ArrayLike<number>, lr: number, opts: { grads?: boolean; dropoutKey?: number } = {}): Promise<GpuLlamaStep> {
    const R = this.batch * this.seqLen;
    const T = this.seqLen;
    const V = this.config.vocabSize;
    if (ids.length !== R) throw new Error(`${ids.length} ids for ${this.batch} sequences of ${T}`);
    const idBuf = Int32Array.from(ids);
    idBuf.forEach((id, r) => {
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new Error(`id ${id} at row ${r} is outside 0..${V - 1}`);
    });
    const targets = Int32Array.from({ length: R }, (_, i) => ((i + 1) % T === 0 ? -100 : idBuf[i + 1]));
    const { y, counted } = batchLabels(targets, R, V);
    this.k.write(this.ids, idBuf);
    this.k.write(this.targets, y);
    if (this.masks.length) {
      const key = opts.dropoutKey ?? 0;
      for (const m of this.masks) this.k.write(m.buf, this.dropoutMask(key, m.module, m.cols));
    }
    this.k.setParams(this.xent, 'crossEntropy', { rows: R, cols: V, scale: 1 / Math.max(1, counted) });
    this.k.run(this.forwardBackward);
    const r = await lossAndUpdate(this.k, this.params, this.rowLoss, y, counted, this.t + 1, lr, this.adamw, !!opts.grads);
    this.t++;
    this.synced = r.synced;
    return r.grads ? { loss: r.loss, grads: r.grads } : { loss: r.loss };
  }

  /** The CPU engine's mask: the core's `dropout` of ones at tensorKey(key, module); key 0 drops nothing (as llamaLogits). */
  private dropoutMask(key: number, module: string, cols: number): Float32Array {
    return loraDropoutMask(this.ones, this.batch * this.seqLen, cols, key ? this.adapter.config.dropout : 0, key, module);
  }

  /**
   * The run's host copy after the last completed step: AdamW's moments and step count (the
   * adapter's arrays hold the weights); null before the first. A CPU run resumes from it (core
   * trainSteps' `resume`) when the device fails.
   */
  hostState(): AdamWState | null {
    return this.synced;
  }

  destroy(): void {
    this.k.destroy();
  }
}

/**
 * The steps of training the adapter on windows of seqLen cut from `tokens` on the GPU, one per
 * `next()`: the CPU loop's seeded batches of windows and learning-rate schedule (loop.ts), and
 * llamaAdapterSteps' dropout key, so it sees what the CPU run sees; the adapter is current after
 * each yield.
 */
export async function* gpuLlamaAdapterSteps(
  trainer: GpuLlamaLoraTrainer,
  tokens: ArrayLike<number>,
  opts: LoopOptions,
): AsyncGenerator<StepReport, void, undefined> {
  const T = trainer.seqLen;
  const windows = Math.floor(tokens.length / T);
  if (windows < 1) throw new Error(`${tokens.length} tokens make no window of ${T}`);
  if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new Error(`steps must be a positive integer, got ${opts.steps}`);
  if (Math.min(opts.batch, windows) !== trainer.batch)
    throw new Error(`the trainer takes batches of ${trainer.batch}, the options ${Math.min(opts.batch, windows)}`);
  if (opts.adamw && JSON.stringify(opts.adamw) !== JSON.stringify(trainer.adamw))
    throw new Error('the options name another AdamW configuration than the trainer was built with');
  const schedule: Schedule = { ...opts.schedule, totalSteps: opts.steps };
  const stream = batches(windows, opts.batch, opts.seed);
  for (let t = 0; t < opts.steps; t++) {
    const rows = stream.next().value as Uint32Array;
    const lr = learningRate(schedule, t);
    const { loss } = await trainer.step(windowIds(tokens, T, rows), lr, { dropoutKey: dropoutKeyOf(opts.seed, t) });
    yield { step: t, lr, loss };
  }
}
