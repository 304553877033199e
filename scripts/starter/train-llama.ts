/**
 * Full-parameter training of a Llama-architecture decoder on the training engine's tape
 * (src/core/train/llama.ts: llamaLoss over frozenModel with every weight trained), AdamW with a
 * linear warm-up and cosine decay (src/core/train/optim.ts, loop.ts). Deterministic: same config,
 * tokens, seed and steps give the same bytes.
 */
import { expectedTensors, type CausalLmConfig } from '../../src/core/models/llama-config.ts';
import { llamaLoss, frozenModel } from '../../src/core/train/llama.ts';
import { trainLoop, type LoopOptions, type StepReport, type Trainable } from '../../src/core/train/loop.ts';
import { Rng } from './rng.ts';

export type LlamaWeights = Map<string, { shape: number[]; data: Float32Array }>;

const isNorm = (name: string) => name.endsWith('norm.weight');

/** transformers' LlamaPreTrainedModel init: N(0, std) for embeddings and linear weights, norms at 1. */
export function initLlama(c: CausalLmConfig, seed: number, std = 0.02): LlamaWeights {
  const rng = new Rng(seed);
  const out: LlamaWeights = new Map();
  for (const t of expectedTensors(c)) {
    if (t.optional && c.tieWordEmbeddings) continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = isNorm(t.name) ? 1 : std * rng.normal();
    out.set(t.name, { shape: [...t.shape], data });
  }
  return out;
}

export function cloneWeights(w: LlamaWeights): LlamaWeights {
  return new Map([...w].map(([k, v]) => [k, { shape: [...v.shape], data: Float32Array.from(v.data) }]));
}

/** Windows of `seqLen` tokens: consecutive, non-overlapping, from a token stream. */
export function windowsOf(tokens: ArrayLike<number>, seqLen: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let at = 0; at + seqLen <= tokens.length; at += seqLen) out.push(Int32Array.from({ length: seqLen }, (_, j) => tokens[at + j]));
  return out;
}

/** Train every weight in place on the given windows; returns the loss per step. */
export function trainLlama(
  c: CausalLmConfig,
  weights: LlamaWeights,
  windows: readonly Int32Array[],
  opts: LoopOptions,
  onStep?: (r: StepReport) => void,
): StepReport[] {
  if (windows.length === 0) throw new Error('no training windows');
  const seqLen = windows[0].length;
  const params: Trainable[] = [...weights].map(([name, w]) => ({
    name,
    data: w.data,
    rows: w.shape.length === 2 ? w.shape[0] : 1,
    cols: w.shape.length === 2 ? w.shape[1] : w.shape[0],
    decay: !isNorm(name),
  }));
  const f32 = new Map([...weights].map(([k, v]) => [k, v.data]));
  const shapes = new Map([...weights].map(([k, v]) => [k, v.shape]));
  return trainLoop(
    params,
    windows.length,
    (tape, values, rows) => {
      const ids = new Int32Array(rows.length * seqLen);
      rows.forEach((w, i) => ids.set(windows[w], i * seqLen));
      return llamaLoss(frozenModel(tape, c, f32, shapes, values), ids, rows.length, seqLen);
    },
    opts,
    onStep,
  );
}
