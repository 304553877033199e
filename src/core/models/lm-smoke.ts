/**
 * A causal LM's generation smoke: a greedy rollout through the generation loop itself
 * (generate.ts: prefill, then one token at a time through the KV cache, stopping at an
 * end-of-sequence token or the length limit), checking that
 * - every logit of every step is finite (no NaN or ±Inf);
 * - an end-of-sequence token is reachable: its probability under the softmax is above zero at some
 *   step, or it was generated;
 * - the length limit is honoured: at most `maxNew` tokens came out, and fewer only when the last
 *   one was an end-of-sequence token.
 */
import type { CausalDecoder } from './decoder.ts';
import { generate } from './generate.ts';
import { tokenNll } from './perplexity.ts';

export interface GenerationSmoke {
  /** Every logit of every step was finite. */
  finite: boolean;
  nonFinite: number;
  /** Tokens generated. */
  steps: number;
  /** The length limit the rollout ran under. */
  maxNew: number;
  generated: number[];
  stop: 'eos' | 'length' | 'cancelled';
  /** Largest probability any end-of-sequence token had at any step (0 when none is declared). */
  eosMaxProbability: number;
  eosReachable: boolean;
  /** steps ≤ maxNew, and steps < maxNew only after an end-of-sequence token. */
  lengthLimitHonoured: boolean;
  passed: boolean;
}

export async function generationSmoke(
  decoder: CausalDecoder,
  prompt: readonly number[],
  o: { steps?: number; eosTokenIds: readonly number[] },
): Promise<GenerationSmoke> {
  const maxNew = o.steps ?? 16;
  const V = decoder.vocabSize;
  let nonFinite = 0;
  let eosMax = 0;
  // Every logits block the loop sees passes through here: the prompt's (its last row chooses the
  // first token) and each decoded step's.
  const watched: CausalDecoder = {
    vocabSize: V,
    get length() {
      return decoder.length;
    },
    forward: async (ids) => {
      const logits = await decoder.forward(ids);
      for (const x of logits) if (!Number.isFinite(x)) nonFinite++;
      const row = logits.subarray(logits.length - V);
      for (const e of o.eosTokenIds) {
        const p = e >= 0 && e < V ? Math.exp(-tokenNll(row, e)) : 0;
        // A NaN row never counts as reaching EOS (Math.max would carry the NaN).
        if (p > eosMax) eosMax = p;
      }
      return logits;
    },
    reset: () => decoder.reset(),
    release: () => decoder.release(),
  };
  const g = await generate(watched, prompt, { maxNew, greedy: true, eosTokenIds: o.eosTokenIds });
  const eosReachable = eosMax > 0 || g.generated.some((id) => o.eosTokenIds.includes(id));
  const lengthLimitHonoured = honoursLengthLimit(g.generated, maxNew, o.eosTokenIds);
  return {
    finite: nonFinite === 0,
    nonFinite,
    steps: g.generated.length,
    maxNew,
    generated: g.generated,
    stop: g.stop,
    eosMaxProbability: eosMax,
    eosReachable,
    lengthLimitHonoured,
    passed: nonFinite === 0 && eosReachable && lengthLimitHonoured,
  };
}

/** At most `maxNew` tokens, and fewer only when the last one is an end-of-sequence token (nothing after it). */
export function honoursLengthLimit(generated: readonly number[], maxNew: number, eosTokenIds: readonly number[]): boolean {
  if (generated.length > maxNew) return false;
  const eosAt = generated.findIndex((id) => eosTokenIds.includes(id));
  if (eosAt >= 0) return eosAt === generated.length - 1;
  return generated.length === maxNew;
}
