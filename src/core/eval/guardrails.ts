/**
 * Two guardrails for causal LMs, over any decoder (models/decoder.ts) and the model's tokenizer:
 *
 * - safety: a frozen prompt set (prompts, a declared blocklist of regular expressions, seed,
 *   max-new tokens, sampling settings). Each prompt's continuation is generated (models/generate.ts;
 *   prompt i is drawn with seed + i) and decoded; a prompt violates when its continuation (not the
 *   prompt) matches a pattern. Reported as violations / prompts, with which prompt hit which pattern.
 * - bias: a paired-sentence probe in the manner of CrowS-Pairs. Each pair is two sentences that
 *   differ only in one declared term (first = P + a + S, second = P + b + S). Each sentence is
 *   scored by its log-perplexity (mean −ln p per token, models/perplexity.ts); the pair's gap is
 *   logPpl(second) − logPpl(first), positive when the model prefers the first sentence.
 */
import type { CausalDecoder } from '../models/decoder.ts';
import { checkSampling, generate, type SamplingOptions } from '../models/generate.ts';
import { perplexity } from '../models/perplexity.ts';
import type { TextTokenizer } from '../models/tokenizer.ts';

export interface BlockPattern {
  id: string;
  /** A JavaScript regular expression (source). */
  pattern: string;
  /** RegExp flags (default "i"); "g" and "y" are refused (they make test() stateful). */
  flags?: string;
}

export interface SafetyProbe {
  prompts: string[];
  blocklist: BlockPattern[];
  seed: number;
  maxNew: number;
  sampling: SamplingOptions;
}

export interface SafetyHit {
  prompt: number;
  pattern: string;
  /** The matched text. */
  match: string;
}

export interface SafetyReport {
  prompts: number;
  violations: number;
  violationRate: number;
  hits: SafetyHit[];
  continuations: { prompt: string; continuation: string; patterns: string[]; stop: string }[];
}

function refuse(what: string, why: string): never {
  throw new Error(`${what}: ${why}`);
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function nonEmptyStrings(x: unknown, what: string): string[] {
  if (!Array.isArray(x) || x.length === 0 || !x.every((s) => typeof s === 'string' && s.length > 0))
    refuse(what, 'must be a non-empty array of non-empty strings');
  return x as string[];
}

function onlyKeys(o: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) refuse(what, `unknown key "${k}" (known: ${keys.join(', ')})`);
}

function compile(p: BlockPattern): RegExp {
  const flags = p.flags ?? 'i';
  if (/[gy]/.test(flags)) refuse(`blocklist pattern "${p.id}"`, 'flags "g" and "y" are not allowed');
  try {
    return new RegExp(p.pattern, flags);
  } catch (e) {
    return refuse(`blocklist pattern "${p.id}"`, (e as Error).message);
  }
}

/** Check a parsed safety probe file: { prompts, blocklist: [{ id, pattern, flags? }], seed, maxNew, sampling }. */
export function parseSafetyProbe(json: unknown): SafetyProbe {
  if (!isObject(json)) refuse('safety probe', 'must be a JSON object');
  onlyKeys(json, ['description', 'prompts', 'blocklist', 'seed', 'maxNew', 'sampling'], 'safety probe');
  const prompts = nonEmptyStrings(json.prompts, 'safety probe "prompts"');
  if (!Array.isArray(json.blocklist) || json.blocklist.length === 0) refuse('safety probe "blocklist"', 'must be a non-empty array');
  const ids = new Set<string>();
  const blocklist = json.blocklist.map((p, i): BlockPattern => {
    const what = `safety probe blocklist[${i}]`;
    if (!isObject(p)) refuse(what, 'must be an object { id, pattern, flags? }');
    onlyKeys(p, ['id', 'pattern', 'flags'], what);
    if (typeof p.id !== 'string' || !p.id) refuse(what, '"id" must be a non-empty string');
    if (ids.has(p.id)) refuse(what, `duplicate id "${p.id}"`);
    ids.add(p.id);
    if (typeof p.pattern !== 'string' || !p.pattern) refuse(what, '"pattern" must be a non-empty string');
    if (p.flags !== undefined && typeof p.flags !== 'string') refuse(what, '"flags" must be a string');
    const b: BlockPattern = { id: p.id, pattern: p.pattern, ...(p.flags !== undefined ? { flags: p.flags as string } : {}) };
    compile(b);
    return b;
  });
  const seed = json.seed;
  if (!(typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0))
    refuse('safety probe "seed"', 'must be a non-negative integer');
  const maxNew = json.maxNew;
  if (!(typeof maxNew === 'number' && Number.isSafeInteger(maxNew) && maxNew >= 1))
    refuse('safety probe "maxNew"', 'must be a positive integer');
  if (!isObject(json.sampling))
    refuse('safety probe "sampling"', 'must be an object ({ "greedy": true } or { "temperature", "topK"?, "topP"? })');
  onlyKeys(json.sampling, ['greedy', 'temperature', 'topK', 'topP'], 'safety probe "sampling"');
  const sampling = json.sampling as SamplingOptions;
  try {
    checkSampling(sampling);
  } catch (e) {
    refuse('safety probe "sampling"', (e as Error).message);
  }
  return { prompts, blocklist, seed, maxNew, sampling };
}

/** Generate each prompt's continuation and check it against the blocklist. */
export async function safetyProbe(decoder: CausalDecoder, tokenizer: TextTokenizer, probe: SafetyProbe): Promise<SafetyReport> {
  const patterns = probe.blocklist.map((p) => ({ id: p.id, re: compile(p) }));
  const hits: SafetyHit[] = [];
  const continuations: SafetyReport['continuations'] = [];
  for (const [i, prompt] of probe.prompts.entries()) {
    const g = await generate(decoder, tokenizer.encode(prompt), {
      ...probe.sampling,
      ...(probe.sampling.temperature !== undefined ? { seed: probe.seed + i } : {}),
      maxNew: probe.maxNew,
      eosTokenIds: tokenizer.eosTokenIds,
    });
    const continuation = tokenizer.decode(g.generated);
    const found: string[] = [];
    for (const p of patterns) {
      const m = p.re.exec(continuation);
      if (m) {
        hits.push({ prompt: i, pattern: p.id, match: m[0] });
        found.push(p.id);
      }
    }
    continuations.push({ prompt, continuation, patterns: found, stop: g.stop });
  }
  const violations = continuations.filter((c) => c.patterns.length > 0).length;
  return { prompts: probe.prompts.length, violations, violationRate: violations / probe.prompts.length, hits, continuations };
}

export interface BiasPair {
  first: string;
  second: string;
  /** The declared term of each sentence: first = P + terms[0] + S, second = P + terms[1] + S. */
  terms: [string, string];
}

export interface BiasProbe {
  pairs: BiasPair[];
}

export interface BiasPairScore extends BiasPair {
  /** Mean −ln p per token (log-perplexity) of each sentence. */
  firstLogPpl: number;
  secondLogPpl: number;
  /** secondLogPpl − firstLogPpl: positive when the first sentence is preferred. */
  gap: number;
}

export interface BiasReport {
  pairs: number;
  /** Mean of the signed gaps. */
  meanGap: number;
  /** Mean and max of |gap|. */
  meanAbsGap: number;
  maxAbsGap: number;
  /** Index of the pair with the largest |gap|. */
  maxPair: number;
  /** Share of pairs with gap > 0 (the first sentence has the lower perplexity). */
  firstPreferred: number;
  scores: BiasPairScore[];
}

/** True when first = P + a + S and second = P + b + S for some split. */
export function differsOnlyIn(first: string, second: string, a: string, b: string): boolean {
  for (let i = first.indexOf(a); i >= 0; i = first.indexOf(a, i + 1))
    if (first.slice(0, i) + b + first.slice(i + a.length) === second) return true;
  return false;
}

/** Check a parsed bias probe file: { pairs: [{ first, second, terms: [a, b] }] }. */
export function parseBiasProbe(json: unknown): BiasProbe {
  if (!isObject(json)) refuse('bias probe', 'must be a JSON object');
  onlyKeys(json, ['description', 'pairs'], 'bias probe');
  if (!Array.isArray(json.pairs) || json.pairs.length === 0) refuse('bias probe "pairs"', 'must be a non-empty array');
  const pairs = json.pairs.map((p, i): BiasPair => {
    const what = `bias probe pairs[${i}]`;
    if (!isObject(p)) refuse(what, 'must be an object { first, second, terms: [a, b] }');
    onlyKeys(p, ['first', 'second', 'terms'], what);
    const [first, second] = nonEmptyStrings([p.first, p.second], `${what} "first"/"second"`);
    const terms = nonEmptyStrings(p.terms, `${what} "terms"`);
    if (terms.length !== 2) refuse(`${what} "terms"`, 'must name two terms');
    if (!differsOnlyIn(first, second, terms[0], terms[1]))
      refuse(what, `the sentences must differ only in the declared term ("${terms[0]}" → "${terms[1]}")`);
    return { first, second, terms: [terms[0], terms[1]] };
  });
  return { pairs };
}

/** Log-perplexity of each sentence of each pair and the gaps between them. */
export async function biasProbe(decoder: CausalDecoder, tokenizer: TextTokenizer, probe: BiasProbe): Promise<BiasReport> {
  const logPpl = async (s: string) => {
    const p = await perplexity(decoder, tokenizer, s);
    return p.nll / p.tokens;
  };
  const scores: BiasPairScore[] = [];
  for (const pair of probe.pairs) {
    const firstLogPpl = await logPpl(pair.first);
    const secondLogPpl = await logPpl(pair.second);
    scores.push({ ...pair, firstLogPpl, secondLogPpl, gap: secondLogPpl - firstLogPpl });
  }
  const abs = scores.map((s) => Math.abs(s.gap));
  const maxPair = abs.indexOf(Math.max(...abs));
  const n = scores.length;
  return {
    pairs: n,
    meanGap: scores.reduce((a, s) => a + s.gap, 0) / n,
    meanAbsGap: abs.reduce((a, x) => a + x, 0) / n,
    maxAbsGap: abs[maxPair],
    maxPair,
    firstPreferred: scores.filter((s) => s.gap > 0).length / n,
    scores,
  };
}

/**
 * The probes' figures as a metric map, under the names a policy guardrail pins
 * (src/core/lab/policy.ts GUARDRAIL_METRICS): safetyViolationRate; biasMeanAbsGap and
 * biasMaxAbsGap (nats per token), biasMeanGap and biasFirstPreferred (reported, direction-free).
 */
export function guardrailMetrics(r: { safety?: SafetyReport; bias?: BiasReport }): Record<string, number> {
  const out: Record<string, number> = {};
  if (r.safety) out.safetyViolationRate = r.safety.violationRate;
  if (r.bias) {
    out.biasMeanAbsGap = r.bias.meanAbsGap;
    out.biasMaxAbsGap = r.bias.maxAbsGap;
    out.biasMeanGap = r.bias.meanGap;
    out.biasFirstPreferred = r.bias.firstPreferred;
  }
  return out;
}
