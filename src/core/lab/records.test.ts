import { describe, expect, it } from 'vitest';
import {
  admissionDocuments,
  parentCompatibility,
  PROMOTION_GATES,
  promotionTemplate,
  recordBreed,
  type AdmissionEvidence,
} from './records.ts';
import { admitToShadow } from './admission.ts';
import { RELEASE_STAGES, ReleaseController } from './release.ts';
import { CONTRACT, H, memoryLedger, testPolicy } from './test-helpers.ts';
import { breed } from '../operators/breed.ts';
import { cpuBackend } from '../operators/backend.ts';
import { candidateSlm } from '../operators/candidate.ts';
import { randomModel } from '../operators/test-data.ts';
import { makeManifest, manifestHash } from '../manifest/index.ts';
import { validateManifest } from '../manifest/validate.ts';
import type { Check } from './viability.ts';

const SPECIES = H('5');

async function tiesBreed() {
  const models = [1, 2, 3].map((seed) => randomModel(seed));
  const result = await breed({ operator: 'ties', params: { density: 0.5 }, seed: 7, parents: models }, cpuBackend);
  const parents = models.map((tensors, i) => ({ hash: H(String(i + 1)), species: SPECIES, tensors }));
  return { result, parents, file: candidateSlm(result, parents) };
}

describe('recordBreed', () => {
  it('binds lineage → receipt → candidate, each by hash, with the base named for a base operator', async () => {
    const { result, parents, file } = await tiesBreed();
    const compatibility = parentCompatibility(parents.map((p) => ({ id: p.hash, species: p.species, tensors: p.tensors })))!;
    expect(compatibility.compatible).toBe(true);
    const r = recordBreed({
      result,
      file,
      parents: parents.map((p) => p.hash),
      requested: { density: 0.5 },
      budget: { maxBytes: 10 },
      compatibility,
    });
    for (const m of r.manifests) expect(validateManifest(m, m.kind)).toBe(m);
    expect(r.manifests).toEqual([compatibility, r.lineage, r.receipt, r.candidate]);
    // An independent restatement of the three documents.
    expect(r.lineage).toEqual({
      kind: 'lineage-template',
      schemaVersion: 1,
      parents: [H('1'), H('2'), H('3')],
      base: H('1'),
      operator: { id: 'ties', version: result.operator.version },
      params: result.params,
      seed: 7,
      budget: { maxBytes: 10 },
      expectedSpecies: file.species,
      compatibilityReport: manifestHash(compatibility),
    });
    expect(r.receipt).toEqual({
      kind: 'operator-receipt',
      schemaVersion: 1,
      lineage: manifestHash(r.lineage),
      operator: { id: 'ties', version: result.operator.version },
      backend: result.backend,
      inputs: [H('1'), H('2'), H('3')],
      output: file.hash,
      tensors: result.stats,
      ms: result.ms,
      recompute: `garden breed with a recipe of operator ties, params {"density":0.5}, seed 7, parents (base first) ${H('1')}, ${H('2')}, ${H('3')}: lineage key ${file.lineageKey}`,
    });
    expect(r.candidate).toEqual({
      kind: 'candidate-manifest',
      schemaVersion: 1,
      candidate: file.hash,
      species: file.species,
      lineage: manifestHash(r.lineage),
      receipt: manifestHash(r.receipt),
      bytes: file.bytes.length,
    });
  });

  it('a single-parent breed has no compatibility report, no base, an empty budget and the resolved params in its recompute line', async () => {
    const models = [randomModel(4)];
    const result = await breed({ operator: 'quantize', params: { scheme: 'int8' }, seed: 0, parents: models }, cpuBackend);
    const file = candidateSlm(result, [{ hash: H('4'), species: SPECIES, tensors: models[0] }]);
    expect(parentCompatibility([{ id: H('4'), species: SPECIES, tensors: models[0] }])).toBeNull();
    const r = recordBreed({ result, file, parents: [H('4')] });
    expect(r.manifests.map((m) => m.kind)).toEqual(['lineage-template', 'operator-receipt', 'candidate-manifest']);
    expect(r.lineage.base).toBeNull();
    expect(r.lineage.budget).toEqual({});
    expect(r.lineage).not.toHaveProperty('compatibilityReport');
    expect(r.receipt.recompute).toContain(`params ${JSON.stringify(result.params)}, seed 0`);
  });
});

const primary = (text: string): Check => ({
  kind: 'primary',
  baseline: 'champion',
  baselineId: 'A',
  suite: 'test',
  metric: 'accuracy',
  candidate: 0.9,
  reference: 0.8,
  delta: 0.1,
  threshold: 0.01,
  passed: true,
  text,
});
const guard: Check = { ...primary('ece on test within tolerance'), kind: 'guardrail' };
const policy = testPolicy({ allowlist: ['blend'] });
const smoke = makeManifest('runtime-smoke', {
  candidate: H('c'),
  runtime: 'test',
  probes: 4,
  outputShape: [4, 3],
  finite: true,
  passed: true,
  reasons: [],
});

function evidence(over: Partial<AdmissionEvidence> = {}): AdmissionEvidence {
  return {
    candidate: H('c'),
    slot: 's',
    operator: 'blend',
    policy,
    smoke,
    sidecars: { test: H('a'), robust: H('b') },
    viability: { viable: true, checks: [primary('gain on test'), guard] },
    ...over,
  };
}

describe('promotion template and admission record', () => {
  it('lists every gate once, in one order, ending with the release stages', () => {
    expect(PROMOTION_GATES.slice(-RELEASE_STAGES.length)).toEqual([...RELEASE_STAGES]);
    const t = promotionTemplate(evidence());
    expect(t.gates).toEqual([
      { id: 'allowlist', status: 'passed', detail: 'operator blend is allowlisted' },
      { id: 'evaluation', status: 'passed', evidence: H('a'), detail: 'evaluated on test, robust' },
      { id: 'viability', status: 'passed', detail: 'gain on test' },
      { id: 'runtime-smoke', status: 'passed', evidence: manifestHash(smoke) },
      { id: 'shadow', status: 'pending' },
      { id: 'canary', status: 'pending' },
      { id: 'champion', status: 'pending' },
    ]);
  });

  it('a gate fails when its evidence says so, and stays pending without a smoke', () => {
    const status = (e: AdmissionEvidence) => Object.fromEntries(promotionTemplate(e).gates.map((g) => [g.id, g.status]));
    expect(status(evidence({ operator: 'ties' }))).toMatchObject({ allowlist: 'failed' });
    expect(promotionTemplate(evidence({ operator: 'ties' })).gates[0].detail).toBe('operator ties is not allowlisted');
    expect(status(evidence({ sidecars: { test: H('a') } }))).toMatchObject({ evaluation: 'failed' });
    expect(promotionTemplate(evidence({ sidecars: { test: H('a') } })).gates[1].detail).toBe('no evaluation sidecar on robust');
    expect(status(evidence({ viability: { viable: false, checks: [] } }))).toMatchObject({ viability: 'failed' });
    expect(status(evidence({ smoke: undefined }))).toMatchObject({ 'runtime-smoke': 'pending' });
    expect(promotionTemplate(evidence({ smoke: { passed: false, reasons: ['finite: NaN'] } })).gates[3]).toEqual({
      id: 'runtime-smoke',
      status: 'failed',
      detail: 'finite: NaN',
    });
  });

  it('the admission record binds the template and every sidecar, and admitToShadow accepts the pair', async () => {
    const { template, admission } = admissionDocuments(evidence(), { admittedAt: '2025-01-01T00:00:00.000Z', reasons: ['why'] });
    expect(admission).toEqual({
      kind: 'admission-record',
      schemaVersion: 1,
      candidate: H('c'),
      slot: 's',
      promotionTemplate: manifestHash(template),
      sidecars: [H('a'), H('b')],
      admittedAt: '2025-01-01T00:00:00.000Z',
      reasons: ['why'],
    });
    const { ledger } = await memoryLedger();
    const release = ReleaseController.open(ledger);
    await release.createSlot('s', CONTRACT, 'A', []);
    await admitToShadow({ ledger, release }, { slot: 's', model: 'm', candidate: H('c'), admission, promotionTemplate: template });
    expect(release.current('s').shadow).toBe('m');
    // A failed pre-release gate is refused by admission.
    const bad = admissionDocuments(evidence({ operator: 'ties' }), { admittedAt: '2025-01-01T00:00:00.000Z', reasons: [] });
    await expect(
      admitToShadow(
        { ledger, release },
        { slot: 's', model: 'n', candidate: H('c'), admission: bad.admission, promotionTemplate: bad.template },
      ),
    ).rejects.toThrow(/gate allowlist \(operator ties is not allowlisted\) failed/);
  });
});
