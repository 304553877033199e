/**
 * The text family's character LM (src/core/models/charlm.ts) on the training tape:
 * ids [N, k] → Gather(embed.weight) → Reshape [N, k·E] → fc1 (+LoRA) → ReLU → fc2 (+LoRA) → logits,
 * trained on next-character prediction at every position of a text (context space-padded on the
 * left, as the starter trains it). fc1 and fc2 are [in, out] (PEFT's fan_in_fan_out); the
 * embedding can be trained whole as a saved tensor.
 */
import { charLmForward, charLmFromTensors, contextAt } from '../models/charlm.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import { crossEntropy } from './loss.ts';
import { embedding } from './ops-llm.ts';
import { reshape } from './ops.ts';
import { trainLoop, type LoopOptions, type StepReport } from './loop.ts';
import type { Adapter, LinearSite } from './lora.ts';
import { adapterLayers, adapterParams } from './mlp.ts';
import type { Tape, Value } from './tape.ts';

export function charLmSites(tensors: readonly Tensor[]): LinearSite[] {
  const { shape } = charLmFromTensors(tensors);
  return [
    {
      module: 'fc1',
      weight: 'fc1.weight',
      bias: 'fc1.bias',
      inFeatures: shape.context * shape.embed,
      outFeatures: shape.hidden,
      layout: 'in-out',
    },
    { module: 'fc2', weight: 'fc2.weight', bias: 'fc2.bias', inFeatures: shape.hidden, outFeatures: shape.vocab, layout: 'in-out' },
  ];
}

/** Mean next-character cross-entropy at text positions `ends` (the character at each is predicted from the k before it). */
export function charLmAdapterLoss(
  tape: Tape,
  base: ReadonlyMap<string, Float32Array>,
  shape: { vocab: number; embed: number; context: number },
  sites: readonly LinearSite[],
  adapter: Adapter,
  values: ReadonlyMap<string, Value>,
  ids: ArrayLike<number>,
  ends: ArrayLike<number>,
  key: number,
): Value {
  const { context: K, embed: E, vocab: V } = shape;
  const ctx = new Int32Array(ends.length * K);
  const targets = new Int32Array(ends.length);
  for (let r = 0; r < ends.length; r++) {
    contextAt(ids, ends[r], K, ctx.subarray(r * K, r * K + K));
    targets[r] = ids[ends[r]];
  }
  const table = values.get('embed.weight') ?? tape.constant(base.get('embed.weight')!, V, E, 'embed.weight');
  const flat = reshape(embedding(table, ctx), ends.length, K * E);
  return crossEntropy(adapterLayers(tape, base, sites, adapter, values, flat, key), targets);
}

/** Train a LoRA of the char LM in place on a text (token ids); every position 1… is an example. */
export function trainCharLmAdapter(
  baseTensors: readonly Tensor[],
  adapter: Adapter,
  ids: ArrayLike<number>,
  opts: LoopOptions,
  onStep?: (r: StepReport) => void,
): StepReport[] {
  if (ids.length < 2) throw new Error('the text has fewer than two characters');
  const { shape } = charLmFromTensors(baseTensors);
  const sites = charLmSites(baseTensors);
  const base = new Map(baseTensors.map((t) => [t.name, Float32Array.from(toFloat32(t))]));
  return trainLoop(
    adapterParams(adapter),
    ids.length - 1,
    (tape, values, rows, step) => {
      const ends = Uint32Array.from(rows, (r) => r + 1);
      return charLmAdapterLoss(tape, base, shape, sites, adapter, values, ids, ends, opts.seed + step);
    },
    opts,
    onStep,
  );
}

/**
 * Mean next-character cross-entropy (nats) of a char LM over every position 1… of a text, on the
 * inference oracle's forward pass (charLmForward); perplexity is e to this.
 */
export function charLmTextLoss(tensors: readonly Tensor[], ids: ArrayLike<number>, batch = 512): number {
  const p = charLmFromTensors(tensors);
  const { context: K, vocab: V } = p.shape;
  let total = 0;
  const n = ids.length - 1;
  for (let start = 1; start <= n; start += batch) {
    const rows = Math.min(batch, n - start + 1);
    const ctx = new Int32Array(rows * K);
    for (let r = 0; r < rows; r++) contextAt(ids, start + r, K, ctx.subarray(r * K, r * K + K));
    const logits = charLmForward(p, ctx, rows);
    for (let r = 0; r < rows; r++) {
      const z = logits.subarray(r * V, r * V + V);
      let m = -Infinity;
      for (let c = 0; c < V; c++) m = Math.max(m, z[c]);
      let s = 0;
      for (let c = 0; c < V; c++) s += Math.exp(z[c] - m);
      total += Math.log(s) + m - z[ids[start + r]];
    }
  }
  return total / n;
}
