/**
 * The committed writing-specialist example (examples/train/writing-lm/spec.json, docs/TRAINING.md)
 * runs as written, cut to two steps without validation: the starter LM base, the author's file,
 * the starter's suite texts kept apart, a trained candidate written.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSlm } from '../../src/core/format/slm.ts';
import { candidateOperator } from '../../src/core/lab/policy.ts';
import { parseSpec } from '../../src/core/train/spec.ts';
import { confinedPath } from '../../src/node/confine.ts';
import { trainLanguageModel } from './train-lm.ts';

const SPEC = resolve('examples/train/writing-lm/spec.json');
const out = mkdtempSync(join(tmpdir(), 'garden-writing-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('examples/train/writing-lm/spec.json', () => {
  it('trains (two steps) on the author, kept apart from the four starter suite texts, and writes a trained candidate', async () => {
    const spec = parseSpec(readFileSync(SPEC, 'utf8'));
    expect(spec.text).toBeDefined();
    expect(spec.train.steps).toBe(240);
    expect(spec.text!.validation).toEqual(['validation.txt']);
    // Two steps of one window, without the validation passes (their windows are most of the cost).
    const short = { ...spec, text: { ...spec.text!, validation: [] }, train: { ...spec.train, steps: 2, warmupSteps: 1, batch: 1 } };
    const at = (rel: string, what: string) => confinedPath(resolve('.'), dirname(SPEC), rel, what);
    const merged = join(out, 'merged.slm');
    expect(await trainLanguageModel(short, at, join(out, 'adapter'), true, merged)).toBe(0);
    const m = JSON.parse(readFileSync(join(out, 'adapter', 'garden_training.json'), 'utf8')) as {
      data: { train: { file: string; bytes: number }[]; trainWindows: number };
      suiteTextsKeptApart: { checked: { name: string }[] };
      result: { steps: number };
    };
    expect(m.data.train).toMatchObject([{ file: 'train.txt', bytes: 21_119 }]);
    expect(m.data.trainWindows).toBe(135);
    expect(m.suiteTextsKeptApart.checked.map((c) => c.name).sort()).toEqual(['brown.txt', 'mixed.txt', 'moby.txt', 'sotu.txt']);
    expect(m.result.steps).toBe(2);
    expect(candidateOperator(readSlm(readFileSync(merged)).metadata)).toBe('lora-merge');
  }, 120_000);
});
