import { describe, expect, it } from 'vitest';
import generatedSource from './validators.generated.ts?raw';
import { generateValidatorModule } from './generate.ts';
import { SCHEMAS } from './schemas.ts';
import {
  DOCUMENT_KINDS,
  MANIFEST_KINDS,
  ManifestError,
  makeManifest,
  manifestHash,
  manifestJson,
  parseManifest,
  validateManifest,
  type ManifestBodies,
  type ManifestKind,
} from './index.ts';
import { canonicalJson } from '../hash.ts';

const H = (c: string) => c.repeat(64);
const AT = '2025-01-02T03:04:05.678Z';

/** One valid body per kind. */
const BODIES: { [K in ManifestKind]: ManifestBodies[K] } = {
  source: {
    name: 'digits-a',
    model: { hash: H('a'), format: 'slm', bytes: 1234 },
    species: H('5'),
    license: 'MIT',
    origin: { kind: 'starter', description: 'trained by npm run starter' },
    data: { description: 'MNIST train split' },
  },
  'compatibility-report': {
    parents: [H('a'), H('b')],
    species: H('5'),
    compatible: true,
    tensors: [
      {
        name: 'fc1.weight',
        verdict: 'match',
        shapes: [
          [784, 32],
          [784, 32],
        ],
        dtypes: ['F32', 'F32'],
      },
    ],
    reasons: [],
  },
  'lineage-template': {
    parents: [H('a'), H('b')],
    operator: { id: 'blend', version: '1.0.0' },
    params: { weights: [0.5, 0.5], normalize: true },
    seed: 7,
    budget: { maxBytes: 1_000_000 },
    expectedSpecies: H('5'),
  },
  'operator-receipt': {
    lineage: H('1'),
    operator: { id: 'blend', version: '1.0.0' },
    backend: { kind: 'cpu', adapter: 'CPU reference (JavaScript)', software: false },
    inputs: [H('a'), H('b')],
    output: H('c'),
    tensors: [{ name: 'fc1.bias', outputHash: H('d'), changedFraction: 0.5, sparsity: 0, deltaNorm: 1.5, ms: 0.1 }],
    ms: 3.2,
    recompute: 'garden breed lineage.json',
  },
  'candidate-manifest': { candidate: H('c'), species: H('5'), lineage: H('1'), receipt: H('2') },
  'runtime-smoke': {
    candidate: H('c'),
    runtime: 'onnxruntime-web 1.30',
    probes: 8,
    outputShape: [8, 10],
    finite: true,
    passed: true,
    reasons: [],
  },
  'evaluation-sidecar': {
    candidate: H('c'),
    suite: H('e'),
    evaluator: { id: 'garden-eval', version: '1' },
    metrics: { accuracy: 0.91, ece: 0.03 },
    count: 1000,
    checksum: H('f'),
  },
  'promotion-template': {
    candidate: H('c'),
    slot: 'digits',
    gates: [
      { id: 'viability', status: 'passed' },
      { id: 'shadow', status: 'pending' },
    ],
  },
  'admission-record': { candidate: H('c'), slot: 'digits', promotionTemplate: H('3'), sidecars: [H('4')], admittedAt: AT },
  'ledger-entry': { index: 0, prev: H('0'), type: 'admission', at: AT, payload: { candidate: H('c') } },
  'population-review': {
    objectives: [{ metric: 'accuracy', direction: 'max' }],
    members: [{ candidate: H('c'), objectives: [0.9], front: 0, crowding: null, novelty: 0.1, rank: 0 }],
  },
  'parent-pool-recipe': {
    review: H('6'),
    parents: [H('a'), H('c')],
    plan: [{ operator: { id: 'blend', version: '1.0.0' }, parents: [H('a'), H('c')], params: { weights: [1, 1] }, seed: 1 }],
  },
  'selector-registry': {
    slot: 'digits',
    version: 1,
    contract: { inputLength: 784, outputLength: 10, timeoutMs: 1000, compare: 'argmax' },
    champion: 'm1',
    canary: { model: 'm2', share: 0.1 },
    shadow: null,
    fallback: ['m0'],
  },
};

describe('manifests', () => {
  it('has a schema for each of the thirteen kinds, plus policy and lab-round', () => {
    expect(Object.keys(MANIFEST_KINDS)).toHaveLength(13);
    expect(Object.keys(SCHEMAS).sort()).toEqual([...DOCUMENT_KINDS].sort());
  });

  it('the precompiled validators are up to date with manifests/*.schema.json', () => {
    expect(generatedSource === generateValidatorModule(), 'stale: run npx tsx scripts/gen-manifest-validators.ts').toBe(true);
  });

  for (const kind of Object.keys(BODIES) as ManifestKind[]) {
    it(`${kind}: builds, validates, round-trips and hashes its canonical JSON`, () => {
      const m = makeManifest(kind, BODIES[kind] as never);
      expect(m.kind).toBe(kind);
      expect(Object.isFrozen(m)).toBe(true);
      const text = manifestJson(m);
      expect(manifestHash(parseManifest(text))).toBe(manifestHash(m));
      // Key order never changes the identity.
      const reversed = Object.fromEntries(Object.entries(JSON.parse(text)).reverse());
      expect(manifestHash(validateManifest(reversed))).toBe(manifestHash(m));
      // Unknown keys are refused at the top level with the path named.
      expect(() => validateManifest({ ...m, extra: 1 })).toThrow(/\$: unknown key "extra"/);
      // Removing any required key is refused, naming the key.
      for (const key of Object.keys(m)) {
        const rest = { ...m } as Record<string, unknown>;
        delete rest[key];
        if (key === 'kind') expect(() => validateManifest(rest)).toThrow(/unknown manifest kind null; valid kinds: source, /);
        else if ((SCHEMAS[kind] as { required: string[] }).required.includes(key))
          expect(() => validateManifest(rest)).toThrow(new RegExp(`missing key "${key}"`));
      }
    });
  }

  it('refuses an unknown kind and lists the valid ones', () => {
    expect(() => validateManifest({ kind: 'recipe-x', schemaVersion: 1 })).toThrow(
      /unknown manifest kind "recipe-x"; valid kinds: source, compatibility-report, .*selector-registry/,
    );
    expect(() => parseManifest('[1]')).toThrow(ManifestError);
  });

  it('names the nested path of a problem', () => {
    const bad = { kind: 'selector-registry', schemaVersion: 1, ...BODIES['selector-registry'], canary: { model: 'm2', share: 1.5 } };
    expect(() => validateManifest(bad)).toThrow(/\$\.canary\.share: must be <= 1/);
    const bad2 = { kind: 'operator-receipt', schemaVersion: 1, ...BODIES['operator-receipt'] };
    bad2.tensors = [{ ...bad2.tensors[0], bogus: true } as never];
    expect(() => validateManifest(bad2)).toThrow(/\$\.tensors\[0\]: unknown key "bogus"/);
    expect(() => makeManifest('ledger-entry', { ...BODIES['ledger-entry'], type: 'delete' as never })).toThrow(
      /\$\.type: must be one of "admission", "release", "rollback", "re-baseline", "policy-change"/,
    );
  });

  it('refuses duplicate keys and prototype-polluting keys when parsing', () => {
    const ok = manifestJson(makeManifest('runtime-smoke', BODIES['runtime-smoke']));
    expect(() => parseManifest(ok.replace('{"candidate"', '{"probes":3,"candidate"'))).toThrow(/duplicate key "probes" at \$/);
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expect(() => parseManifest(ok.replace('{"candidate"', `{"${key}":{"polluted":true},"candidate"`))).toThrow(
        new RegExp(`key "${key}" at \\$ is refused`),
      );
    }
    const nested = manifestJson(makeManifest('evaluation-sidecar', BODIES['evaluation-sidecar'])).replace(
      '"metrics":{',
      '"metrics":{"__proto__":1,',
    );
    expect(() => parseManifest(nested)).toThrow(/key "__proto__" at \$\.metrics is refused/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses prototype-polluting keys in in-memory objects too', () => {
    const m = JSON.parse(manifestJson(makeManifest('evaluation-sidecar', BODIES['evaluation-sidecar'])));
    m.metrics = JSON.parse('{"__proto__": 1}');
    expect(() => validateManifest(m)).toThrow(/key "__proto__" at \$\.metrics is refused/);
    m.metrics = { constructor: 1 };
    expect(() => validateManifest(m)).toThrow(/key "constructor" at \$\.metrics is refused/);
  });

  it('refuses non-finite numbers and wrong schema versions', () => {
    expect(() => makeManifest('evaluation-sidecar', { ...BODIES['evaluation-sidecar'], metrics: { accuracy: NaN } })).toThrow(/non-finite/);
    const m = { ...makeManifest('candidate-manifest', BODIES['candidate-manifest']), schemaVersion: 2 };
    expect(() => validateManifest(m)).toThrow(/\$\.schemaVersion: must be 1/);
  });

  it('hashes are stable over seeded random bodies whatever the key order', () => {
    let s = 12345;
    const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let t = 0; t < 50; t++) {
      const metrics: Record<string, number> = {};
      for (let i = 0; i < 1 + Math.floor(rnd() * 6); i++) metrics[`m${Math.floor(rnd() * 100)}`] = rnd();
      const m = makeManifest('evaluation-sidecar', { ...BODIES['evaluation-sidecar'], metrics });
      const shuffled = JSON.parse(canonicalJson(m));
      shuffled.metrics = Object.fromEntries(Object.entries(shuffled.metrics).sort(() => rnd() - 0.5));
      expect(manifestHash(validateManifest(shuffled))).toBe(manifestHash(m));
    }
  });
});
