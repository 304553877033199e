import { describe, expect, it } from 'vitest';
import { sidecarBody, sidecarChecksumOk } from './sidecar.ts';
import type { EvaluationResult } from './types.ts';
import { checkCatalog } from '../models/catalog.ts';

const result: EvaluationResult = {
  evaluator: { id: 'e', version: '1' },
  suite: { id: 's', hash: 'a'.repeat(64), family: 'digits', task: 'classify', perturbation: 'none', count: 10 },
  metrics: {
    accuracy: 0.9,
    ece: 0.05,
    nll: 0.3,
    perplexity: null,
    count: 10,
    medianLatencyMs: 1.5,
    medianLatencyPerRowMs: 0.15,
    batch: 10,
  },
};

describe('evaluation sidecar body', () => {
  it('binds candidate, suite, evaluator and metrics; any change breaks the checksum', () => {
    const body = sidecarBody('b'.repeat(64), result);
    expect(body.suite).toBe('a'.repeat(64));
    expect(body.metrics).not.toHaveProperty('perplexity');
    expect(sidecarChecksumOk(body)).toBe(true);
    expect(sidecarChecksumOk({ ...body, metrics: { ...body.metrics, accuracy: 0.91 } })).toBe(false);
    expect(sidecarChecksumOk({ ...body, candidate: 'c'.repeat(64) })).toBe(false);
    expect(sidecarChecksumOk({ ...body, suite: 'd'.repeat(64) })).toBe(false);
  });
});

describe('catalog check', () => {
  const h = 'e'.repeat(64);
  const family = {
    id: 'digits',
    name: 'D',
    description: '',
    species: h,
    graph: 'g',
    graphHash: h,
    input: { name: 'input', shape: [784], kind: 'image28' },
    output: { name: 'logits', labels: ['0'] },
    models: [{ id: 'm', name: 'M', role: 'base', file: 'f', hash: h, bytes: 1, description: '' }],
    suites: [
      {
        id: 's',
        name: 'S',
        file: 'f',
        hash: h,
        bytes: 1,
        count: 1,
        perturbation: 'none',
        primary: true,
        description: '',
        task: 'classify',
      },
    ],
  };
  it('accepts a well-formed catalog and names the first problem otherwise', () => {
    expect(checkCatalog({ version: 1, families: [family] }).families).toHaveLength(1);
    expect(() => checkCatalog({ version: 2, families: [] })).toThrow(/version is 2, expected 1/);
    expect(() => checkCatalog({ version: 1, families: [{ ...family, input: { ...family.input, kind: 'audio' } }] })).toThrow(
      /input kind "audio"; valid: image28, features, tokens/,
    );
    expect(() => checkCatalog({ version: 1, families: [{ ...family, suites: [{ ...family.suites[0], primary: false }] }] })).toThrow(
      /no primary suite/,
    );
    expect(() => checkCatalog({ version: 1, families: [family, family] })).toThrow(/missing or repeated/);
  });
});
