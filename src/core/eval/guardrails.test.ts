/** Safety (blocklist on seeded continuations) and bias (paired-sentence perplexity gap) on a tiny seeded Llama. */
import { describe, expect, it } from 'vitest';
import { biasProbe, differsOnlyIn, parseBiasProbe, parseSafetyProbe, safetyProbe } from './guardrails.ts';
import { referenceDecoder } from '../models/decoder.ts';
import { generate } from '../models/generate.ts';
import { perplexity } from '../models/perplexity.ts';
import { parseCausalLmConfig } from '../models/llama-config.ts';
import { tinyCheckpoint, tinyTokenizerJson } from '../models/llama-testing.ts';
import { loadTokenizer } from '../models/tokenizer.ts';

const tok = loadTokenizer({ tokenizer: JSON.stringify(tinyTokenizerJson()) });
const ck = tinyCheckpoint({ scale: 2 });
const decoder = referenceDecoder(parseCausalLmConfig(ck.config), ck.tensors);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('safety probe', () => {
  it('a pattern the greedy continuation contains is hit; one only in the prompt, or absent, is not', async () => {
    const prompts = ['the cat', 'and then'];
    const greedy = await generate(decoder, tok.encode(prompts[0]), { greedy: true, maxNew: 8 });
    const cont = tok.decode(greedy.generated);
    expect(cont.length).toBeGreaterThan(2);
    const absent = '\\bzebra\\b';
    expect(cont).not.toMatch(new RegExp(absent, 'i'));
    const probe = parseSafetyProbe({
      prompts,
      blocklist: [
        { id: 'seen', pattern: escape(cont), flags: '' },
        { id: 'prompt-only', pattern: 'the cat', flags: '' },
        { id: 'absent', pattern: absent },
      ],
      seed: 0,
      maxNew: 8,
      sampling: { greedy: true },
    });
    const r = await safetyProbe(decoder, tok, probe);
    expect(r.continuations[0].continuation).toBe(cont);
    const first = r.hits.filter((h) => h.prompt === 0).map((h) => h.pattern);
    expect(first).toContain('seen');
    expect(first).not.toContain('absent');
    expect(r.prompts).toBe(2);
    expect(r.violationRate).toBe(r.violations / 2);
    expect(r.violations).toBe(r.continuations.filter((c) => c.patterns.length > 0).length);
    // "the cat" hits only where the generated text itself contains it
    expect(r.hits.some((h) => h.pattern === 'prompt-only')).toBe(r.continuations.some((c) => c.continuation.includes('the cat')));
  });

  it('sampled continuations are seeded: the same probe gives the same report; another seed may differ', async () => {
    const base = { prompts: ['the', 'an'], blocklist: [{ id: 'x', pattern: 'q' }], maxNew: 12, sampling: { temperature: 1.5, topK: 40 } };
    const a = await safetyProbe(decoder, tok, parseSafetyProbe({ ...base, seed: 7 }));
    const b = await safetyProbe(decoder, tok, parseSafetyProbe({ ...base, seed: 7 }));
    expect(b).toEqual(a);
    const c = await safetyProbe(decoder, tok, parseSafetyProbe({ ...base, seed: 8 }));
    expect(c.continuations.map((x) => x.continuation)).not.toEqual(a.continuations.map((x) => x.continuation));
  });

  it('refuses a bad probe file with a line naming the field', () => {
    const ok = { prompts: ['a'], blocklist: [{ id: 'x', pattern: 'y' }], seed: 0, maxNew: 4, sampling: { greedy: true } };
    expect(() => parseSafetyProbe({ ...ok, prompts: [] })).toThrow(/"prompts"/);
    expect(() => parseSafetyProbe({ ...ok, blocklist: [{ id: 'x', pattern: '(' }] })).toThrow(/pattern "x"/);
    expect(() => parseSafetyProbe({ ...ok, blocklist: [{ id: 'x', pattern: 'a', flags: 'g' }] })).toThrow(/flags/);
    expect(() => parseSafetyProbe({ ...ok, maxNew: 0 })).toThrow(/maxNew/);
    expect(() => parseSafetyProbe({ ...ok, sampling: { greedy: true, temperature: 1 } })).toThrow(/sampling/);
    expect(() => parseSafetyProbe({ ...ok, extra: 1 })).toThrow(/unknown key "extra"/);
  });
});

describe('bias probe', () => {
  it('an identical pair has gap 0; a real pair has the gap of the two log-perplexities', async () => {
    const first = 'the cat ran to the mat';
    const second = 'the dog ran to the mat';
    const r = await biasProbe(
      decoder,
      tok,
      parseBiasProbe({
        pairs: [
          { first, second: first, terms: ['cat', 'cat'] },
          { first, second, terms: ['cat', 'dog'] },
        ],
      }),
    );
    expect(r.scores[0].gap).toBe(0);
    const lp = async (s: string) => {
      const p = await perplexity(decoder, tok, s);
      return p.nll / p.tokens;
    };
    const gap = (await lp(second)) - (await lp(first));
    expect(Math.abs(gap)).toBeGreaterThan(1e-6);
    expect(r.scores[1].gap).toBeCloseTo(gap, 12);
    expect(r.meanGap).toBeCloseTo(gap / 2, 12);
    expect(r.maxAbsGap).toBeCloseTo(Math.abs(gap), 12);
    expect(r.maxPair).toBe(1);
    expect(r.firstPreferred).toBe(gap > 0 ? 0.5 : 0);
  });

  it('refuses pairs that differ in more than the declared term', () => {
    expect(differsOnlyIn('he ran home', 'she ran home', 'he', 'she')).toBe(true);
    expect(differsOnlyIn('a he b he', 'a he b she', 'he', 'she')).toBe(true);
    expect(differsOnlyIn('he ran home', 'she ran away', 'he', 'she')).toBe(false);
    expect(() => parseBiasProbe({ pairs: [{ first: 'he ran home', second: 'she ran away', terms: ['he', 'she'] }] })).toThrow(
      /differ only in the declared term/,
    );
    expect(() => parseBiasProbe({ pairs: [] })).toThrow(/"pairs"/);
  });
});
