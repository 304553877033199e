import { describe, expect, it } from 'vitest';
import { hashJson, sha256Hex } from '../hash.ts';
import { readSlm, speciesId, speciesSignature, writeSlm } from '../format/slm.ts';
import { lineageKey } from '../operators/candidate.ts';
import { randomModel } from '../operators/test-data.ts';
import { mulberry32 } from '../seeded.ts';
import { admitToShadow, AdmissionError } from '../lab/admission.ts';
import { candidateOperator, checkPolicy, PolicyError } from '../lab/policy.ts';
import { admissionDocuments, type AdmissionEvidence } from '../lab/records.ts';
import { ReleaseController } from '../lab/release.ts';
import { CONTRACT, H, memoryLedger, testPolicy } from '../lab/test-helpers.ts';
import { makeManifest, manifestHash, validateManifest } from '../manifest/index.ts';
import type { Policy } from '../manifest/kinds.ts';
import { initAdapter, mergeAdapter } from './lora.ts';
import { mlpSites } from './mlp.ts';
import { exportPeft } from './peft.ts';
import { TRAIN_OPERATOR, trainedCandidateSlm, trainedParams, trainedRecords } from './trained.ts';

const GRAPH = H('9');
const LABELS = ['a', 'b', 'c'];
const baseTensors = randomModel(1);
const species = speciesId(speciesSignature(baseTensors, GRAPH, LABELS));
const baseBytes = writeSlm(baseTensors, { species, graph: GRAPH, vocabulary: LABELS });
const base = { hash: sha256Hex(baseBytes), species, graph: GRAPH, vocabulary: LABELS };
const spec = { base: 'base.slm', adapter: { r: 2 }, train: { seed: 5 } };

/** base + a LoRA with non-zero B on fc1 and fc2, as a trained candidate. */
function trained() {
  const adapter = initAdapter(
    {
      r: 2,
      alpha: 4,
      dropout: 0,
      targetModules: ['fc1', 'fc2'],
      modulesToSave: [],
      useRslora: false,
      fanInFanOut: true,
      baseModel: 'base.slm',
      taskType: null,
    },
    mlpSites(baseTensors),
    new Map(baseTensors.map((t) => [t.name, t])),
    5,
    species,
  );
  const r = mulberry32(3);
  for (const p of adapter.lora.values()) for (let i = 0; i < p.b.length; i++) p.b[i] = r() - 0.5;
  const files = exportPeft(adapter);
  return { files, file: trainedCandidateSlm(base, mergeAdapter(baseTensors, adapter), trainedParams(files, spec), 5) };
}

function evidence(candidate: string, operator: string, policy: Policy): AdmissionEvidence {
  const smoke = makeManifest('runtime-smoke', {
    candidate,
    runtime: 'test',
    probes: 4,
    outputShape: [4, 3],
    finite: true,
    passed: true,
    reasons: [],
  });
  return {
    candidate,
    slot: 's',
    operator,
    policy,
    smoke,
    sidecars: { test: H('a'), robust: H('b') },
    viability: { viable: true, checks: [] },
  };
}

async function admit(policy: Policy) {
  const { files, file } = trained();
  const slm = readSlm(file.bytes);
  const operator = candidateOperator(slm.metadata);
  const { template, admission } = admissionDocuments(evidence(file.hash, operator, policy), {
    admittedAt: '2026-12-02T00:00:00.000Z',
    reasons: [],
  });
  const { ledger } = await memoryLedger();
  const release = ReleaseController.open(ledger);
  await release.createSlot('s', CONTRACT, 'A', ['B']);
  const run = () =>
    admitToShadow({ ledger, release }, { slot: 's', model: 'trained-1', candidate: file.hash, admission, promotionTemplate: template });
  return { files, file, slm, operator, run, ledger };
}

describe('trained candidates (base + merged adapter)', () => {
  it('record the lora-merge recipe: adapter and spec hashes, the seed, the base as parent; the lineage key recomputes from it', () => {
    const { files, file } = trained();
    const slm = readSlm(file.bytes);
    expect(slm.species).toBe(species);
    expect(slm.hash).toBe(file.hash);
    const recipe = JSON.parse(slm.metadata['garden.recipe']) as Record<string, unknown>;
    expect(recipe).toEqual({
      operator: TRAIN_OPERATOR,
      params: { adapter: sha256Hex(files.weights), adapterConfig: sha256Hex(new TextEncoder().encode(files.config)), spec: hashJson(spec) },
      seed: 5,
      parents: [base.hash],
    });
    expect(slm.metadata['garden.operator']).toBe('lora-merge@1.0.0');
    expect(slm.metadata['garden.lineage']).toBe(lineageKey(recipe as never, [base]));
    expect(candidateOperator(slm.metadata)).toBe('lora-merge');
    // The same adapter and spec give the same bytes; another spec another candidate.
    expect(trained().file.hash).toBe(file.hash);
    expect(trainedCandidateSlm(base, slm.tensors, trainedParams(files, { ...spec, x: 1 }), 5).hash).not.toBe(file.hash);
  });

  it('are admitted when the policy allowlists "lora-merge"', async () => {
    const policy = checkPolicy(testPolicy({ allowlist: ['blend', 'lora-merge'] }));
    const a = await admit(policy);
    expect(a.operator).toBe('lora-merge');
    const r = await a.run();
    expect(r.registry).toMatchObject({ champion: 'A', shadow: 'trained-1' });
    expect(a.ledger.entries().map((e) => e.type)).toEqual(['release', 'admission', 'release']);
  });

  it('are refused in one line naming the operator when it does not, and nothing is written', async () => {
    const a = await admit(checkPolicy(testPolicy({ allowlist: ['blend'] })));
    const err = await a.run().catch((e: Error) => e);
    expect(err).toBeInstanceOf(AdmissionError);
    const msg = (err as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toMatch(
      /gate allowlist \(operator lora-merge is not allowlisted: a trained candidate \(base \+ merged adapter\) is admitted only when the policy's allowlist names "lora-merge"\) failed/,
    );
    expect(a.ledger.entries().map((e) => e.type)).toEqual(['release']);
  });

  it('the allowlist takes "lora-merge" but no other unknown id; a file without a recipe records no operator', () => {
    expect(() => checkPolicy(testPolicy({ allowlist: ['lora-merge'] }))).not.toThrow();
    expect(() => checkPolicy(testPolicy({ allowlist: ['lora-merge2'] }))).toThrow(PolicyError);
    expect(candidateOperator(readSlm(baseBytes).metadata)).toBe('');
    expect(candidateOperator({ 'garden.operator': 'ties@2.0.0' })).toBe('ties');
  });
});

describe('trainedRecords', () => {
  it('writes schema-valid lineage, receipt and candidate documents that chain to the file and name only the changed tensors', () => {
    const adapter = initAdapter(
      {
        r: 2,
        alpha: 4,
        dropout: 0,
        targetModules: ['fc1'],
        modulesToSave: [],
        useRslora: false,
        fanInFanOut: true,
        baseModel: 'base.slm',
        taskType: null,
      },
      mlpSites(baseTensors),
      new Map(baseTensors.map((t) => [t.name, t])),
      5,
      species,
    );
    const r = mulberry32(4);
    for (const p of adapter.lora.values()) for (let i = 0; i < p.b.length; i++) p.b[i] = r() - 0.5;
    const files = exportPeft(adapter);
    const merged = mergeAdapter(baseTensors, adapter);
    const params = trainedParams(files, spec);
    const file = trainedCandidateSlm(base, merged, params, 5);
    const d = trainedRecords(file, base.hash, baseTensors, merged, params, 5, { engine: 'cpu tape', kind: 'cpu', ms: 12, steps: 3 });
    for (const m of [d.lineage, d.receipt, d.candidate]) expect(() => validateManifest(m)).not.toThrow();
    expect(d.lineage.operator).toEqual(TRAIN_OPERATOR);
    expect(d.lineage.parents).toEqual([base.hash]);
    expect(d.receipt.lineage).toBe(manifestHash(d.lineage));
    expect(d.receipt.output).toBe(file.hash);
    expect(d.receipt.tensors.map((t) => t.name)).toEqual(['fc1.weight']);
    expect(d.receipt.tensors[0].deltaNorm).toBeGreaterThan(0);
    expect(d.candidate).toMatchObject({ candidate: file.hash, receipt: manifestHash(d.receipt), lineage: manifestHash(d.lineage) });
  });
});
