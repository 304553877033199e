import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkPerturbation, declarePerturbation, perturbText, type PerturbationStep } from './perturb.ts';
import { mailFeatureBytes } from '../models/mail-features.ts';

const words = fc.array(fc.stringMatching(/^[A-Za-z0-9.,']{1,12}$/), { minLength: 1, maxLength: 40 }).map((w) => w.join(' '));
const letters = (s: string) => s.replace(/[^A-Za-z]/g, '').length;

describe('declared text perturbations', () => {
  it('are deterministic in (text, steps, seed, stream) and change with the seed', () => {
    const steps: PerturbationStep[] = [
      { kind: 'casing', rate: 0.3 },
      { kind: 'typos', rate: 0.2 },
    ];
    fc.assert(
      fc.property(words, fc.integer({ min: 0, max: 2 ** 31 }), (text, seed) => {
        expect(perturbText(text, steps, { seed, stream: 'a' })).toBe(perturbText(text, steps, { seed, stream: 'a' }));
      }),
      { numRuns: 50 },
    );
    const long = 'the quick brown fox jumps over the lazy dog '.repeat(20);
    expect(perturbText(long, steps, { seed: 1 })).not.toBe(perturbText(long, steps, { seed: 2 }));
    expect(perturbText(long, steps, { seed: 1, stream: 'x' })).not.toBe(perturbText(long, steps, { seed: 1, stream: 'y' }));
  });

  it('rate 0 is the identity; typos only swap or drop letters, so the letter count never grows', () => {
    fc.assert(
      fc.property(words, fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 1, noNaN: true }), (text, seed, rate) => {
        expect(
          perturbText(
            text,
            [
              { kind: 'typos', rate: 0 },
              { kind: 'casing', rate: 0 },
            ],
            { seed },
          ),
        ).toBe(text);
        const t = perturbText(text, [{ kind: 'typos', rate }], { seed });
        expect(letters(t)).toBeLessThanOrEqual(letters(text));
        // Non-letters are never touched.
        expect(t.replace(/[A-Za-z]/g, '')).toBe(text.replace(/[A-Za-z]/g, ''));
        // The letters kept are a multiset subset of the original ones.
        const count = (s: string) => [...s].reduce((m, c) => m.set(c, (m.get(c) ?? 0) + 1), new Map<string, number>());
        const a = count(text);
        for (const [c, n] of count(t)) expect(n).toBeLessThanOrEqual(a.get(c) ?? 0);
      }),
      { numRuns: 100 },
    );
  });

  it('typo rate is about the declared rate per letter', () => {
    const text = 'abcdefghij '.repeat(2000);
    const t = perturbText(text, [{ kind: 'typos', rate: 0.1 }], { seed: 9 });
    let changed = 0;
    // Half the typos drop a letter: the count of dropped letters is about rate/2 of all letters.
    const dropped = letters(text) - letters(t);
    for (let i = 0; i < Math.min(t.length, text.length); i++) if (t[i] !== text[i]) changed++;
    expect(dropped / letters(text)).toBeGreaterThan(0.03);
    expect(dropped / letters(text)).toBeLessThan(0.07);
    expect(changed).toBeGreaterThan(0);
  });

  it('casing changes only case, and the mail species folds it away (mail features)', () => {
    fc.assert(
      fc.property(words, fc.integer({ min: 0, max: 1000 }), (text, seed) => {
        const c = perturbText(text, [{ kind: 'casing', rate: 0.5 }], { seed });
        expect(c.toLowerCase()).toBe(text.toLowerCase());
        expect([...mailFeatureBytes(c)]).toEqual([...mailFeatureBytes(text)]);
      }),
      { numRuns: 60 },
    );
    const t = 'one two three four five six seven eight nine ten '.repeat(10);
    expect(perturbText(t, [{ kind: 'casing', rate: 0.5 }], { seed: 3 })).not.toBe(t);
  });

  it('a window perturbed with its offset agrees with the whole text away from the window edges (casing only)', () => {
    const text = 'it was the best of times it was the worst of times '.repeat(8);
    const steps: PerturbationStep[] = [{ kind: 'casing', rate: 0.5 }];
    const whole = perturbText(text, steps, { seed: 4 });
    const start = text.indexOf(' ', 100) + 1;
    expect(perturbText(text.slice(start, 300), steps, { seed: 4, offset: start })).toBe(whole.slice(start, 300));
  });

  it('declares itself, and refuses unknown kinds and rates outside [0, 1] listing the valid kinds', () => {
    expect(
      declarePerturbation([
        { kind: 'casing', rate: 0.25 },
        { kind: 'typos', rate: 0.04 },
      ]),
    ).toBe('casing(p=0.25/word: upper|title)+typos(p=0.04/letter: swap|drop)');
    expect(() => checkPerturbation([{ kind: 'shout' as never, rate: 0.1 }])).toThrow(
      /unknown perturbation kind "shout"; valid: typos, casing/,
    );
    expect(() => checkPerturbation([{ kind: 'typos', rate: 1.5 }])).toThrow(/rate must be in \[0, 1\]/);
    expect(() => checkPerturbation([])).toThrow(/at least one step/);
  });
});
