/**
 * LabRoundDeps on the CPU, for the CLI and tests: breed with the CPU reference operators and
 * evaluate MLP classifiers with a CPU forward pass through the evaluator (src/core/eval).
 * The zones stay apart: the operator gets copies of the parents' tensors and a frozen recipe;
 * the candidate's forward pass gets a copy of each batch of suite rows and a copy of its own
 * weights; suites stay in this closure and are read only through their pinned hash.
 */
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { writeSlm } from '../format/slm.ts';
import { breed } from '../operators/breed.ts';
import { cpuBackend } from '../operators/backend.ts';
import { evaluateClassifier, EVALUATOR_ID, EVALUATOR_VERSION } from '../eval/evaluate.ts';
import { readSuite, type Suite } from '../eval/suite.ts';
import { runtimeSmoke } from '../eval/smoke.ts';
import { mlpForward, mlpFromTensors, type MlpParams } from '../models/mlp.ts';
import type { Metrics } from '../manifest/kinds.ts';
import type { Tensor } from '../tensor.ts';
import type { BredCandidate, LabRoundDeps, RoundRecipe, SuiteRef } from './round.ts';
import { handOffTensors } from './zones.ts';

/** A candidate's inference code: weights and a batch of rows (both copies) → logits. */
export type Forward = (params: MlpParams, x: Float32Array, batch: number) => Float32Array;

export interface CpuLabOptions {
  /** Models by id (parents, champion); bred candidates are added under their .slm hash. */
  models: Map<string, readonly Tensor[]>;
  /** Species of the family: every candidate is written as a .slm of this species. */
  species: Sha256Hex;
  /** Suite file bytes by their SHA-256 (the evaluation zone's store). */
  suites: ReadonlyMap<Sha256Hex, Uint8Array>;
  /** Default: the MLP CPU forward pass. */
  forward?: Forward;
  batch?: number;
}

export interface CpuLab {
  deps: LabRoundDeps;
  /** Bred candidates: id → .slm bytes. */
  candidates: Map<string, Uint8Array>;
}

/** Each call of a candidate's forward pass gets its own copy of the weights. */
function copyWeights(p: MlpParams): MlpParams {
  return { shape: { ...p.shape }, w1: p.w1.slice(), b1: p.b1.slice(), w2: p.w2.slice(), b2: p.b2.slice() };
}

export function cpuLab(opts: CpuLabOptions): CpuLab {
  const forward = opts.forward ?? mlpForward;
  const candidates = new Map<string, Uint8Array>();
  const parsedSuites = new Map<Sha256Hex, Suite>();
  const getModel = (id: string): readonly Tensor[] => {
    const m = opts.models.get(id);
    if (!m) throw new Error(`no model "${id}"; known: ${[...opts.models.keys()].map((k) => k.slice(0, 16)).join(', ')}`);
    return m;
  };
  const deps: LabRoundDeps = {
    evaluator: { id: EVALUATOR_ID, version: EVALUATOR_VERSION },
    async breed(recipe: Readonly<RoundRecipe>): Promise<BredCandidate> {
      const parents = recipe.parents.map((p) => handOffTensors(getModel(p)));
      const res = await breed({ operator: recipe.operator, params: recipe.params as never, seed: recipe.seed, parents }, cpuBackend);
      const slm = writeSlm(res.tensors, { species: opts.species, extra: { ...res.metadata, 'lab.operator': `${res.operator.id}@${res.operator.version}` } });
      const id = sha256Hex(slm);
      candidates.set(id, slm);
      opts.models.set(id, res.tensors);
      return { id, bytes: slm.length, ms: res.ms };
    },
    async smoke(candidateId: string) {
      const weights = mlpFromTensors(handOffTensors(getModel(candidateId)));
      const { inputs: F, classes: C } = weights.shape;
      const r = await runtimeSmoke(async (x, batch) => forward(copyWeights(weights), x.slice(), batch), { featureSize: F, outputSize: C });
      return { passed: r.ok, runtime: 'CPU MLP forward (JavaScript)', probes: r.probeRows, outputShape: [r.probeRows, C], reasons: r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`) };
    },
    async evaluate(modelId: string, suite: Readonly<SuiteRef>): Promise<Metrics> {
      let s = parsedSuites.get(suite.hash);
      if (!s) {
        const bytes = opts.suites.get(suite.hash);
        if (!bytes) throw new Error(`suite "${suite.name}" pinned at ${suite.hash.slice(0, 12)} is not in the evaluation store`);
        s = readSuite(bytes, suite.hash);
        parsedSuites.set(suite.hash, s);
      }
      const weights = mlpFromTensors(handOffTensors(getModel(modelId)));
      const run = async (x: Float32Array, batch: number) => forward(copyWeights(weights), x.slice(), batch);
      const r = await evaluateClassifier(run, s, { batch: opts.batch ?? 256, expectedSuiteHash: suite.hash });
      return { accuracy: r.metrics.accuracy, ece: r.metrics.ece, nll: r.metrics.nll, latencyMs: r.metrics.medianLatencyPerRowMs };
    },
  };
  return { deps, candidates };
}
