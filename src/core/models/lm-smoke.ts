/**
 * A causal LM's generation smoke: prefill a prompt, decode greedily for a few steps, and check
 * that every logit is finite (no NaN or ±Inf) and that an end-of-sequence token is reachable
 * (its probability under the softmax is above zero at some step, or it was generated).
 */
import type { CausalDecoder } from './decoder.ts';
import { argmax } from './generate.ts';
import { tokenNll } from './perplexity.ts';

export interface GenerationSmoke {
  /** Every logit of every step was finite. */
  finite: boolean;
  nonFinite: number;
  steps: number;
  generated: number[];
  /** Largest probability any end-of-sequence token had at any step (0 when none is declared). */
  eosMaxProbability: number;
  eosReachable: boolean;
  passed: boolean;
}

export async function generationSmoke(
  decoder: CausalDecoder,
  prompt: readonly number[],
  o: { steps?: number; eosTokenIds: readonly number[] },
): Promise<GenerationSmoke> {
  const steps = o.steps ?? 16;
  const V = decoder.vocabSize;
  decoder.reset();
  let nonFinite = 0;
  let eosMax = 0;
  const generated: number[] = [];
  let logits = await decoder.forward(prompt);
  for (let s = 0; ; s++) {
    for (const x of logits) if (!Number.isFinite(x)) nonFinite++;
    const row = logits.subarray(logits.length - V);
    for (const e of o.eosTokenIds) if (e < V) eosMax = Math.max(eosMax, Math.exp(-tokenNll(row, e)));
    if (s === steps) break;
    const id = argmax(row);
    generated.push(id);
    if (o.eosTokenIds.includes(id)) break;
    logits = await decoder.forward([id]);
  }
  const eosReachable = eosMax > 0 || generated.some((id) => o.eosTokenIds.includes(id));
  return {
    finite: nonFinite === 0,
    nonFinite,
    steps: generated.length,
    generated,
    eosMaxProbability: eosMax,
    eosReachable,
    passed: nonFinite === 0 && eosReachable,
  };
}
