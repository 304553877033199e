/**
 * LabRoundDeps on the CPU, for the CLI and tests: breed with the CPU reference operators and
 * evaluate MLP classifiers with a CPU forward pass through the evaluator (src/core/eval).
 * The zones stay apart: the operator gets copies of the parents' tensors and a frozen recipe;
 * the candidate's forward pass gets a copy of each batch of suite rows and a copy of its own
 * weights; suites stay in this closure and are read only through their pinned hash.
 * Candidates are written by candidateSlm (src/core/operators/candidate.ts), the function
 * `garden breed` and the app use, so the same breed gives the same .slm bytes here.
 */
import type { Sha256Hex } from '../hash.ts';
import { breed } from '../operators/breed.ts';
import { cpuBackend } from '../operators/backend.ts';
import { candidateSlm, type ParentInfo } from '../operators/candidate.ts';
import { evaluateClassifier, EVALUATOR_VERSION } from '../eval/evaluate.ts';
import { readSuite, type Suite } from '../eval/suite.ts';
import { runtimeSmoke, smokeReport } from '../eval/smoke.ts';
import { mlpForward, mlpFromTensors, type MlpParams } from '../models/mlp.ts';
import type { Ceilings, Metrics } from '../manifest/kinds.ts';
import type { Tensor } from '../tensor.ts';
import type { BredCandidate, LabRoundDeps, RoundRecipe, SmokeReport, SuiteRef } from './round.ts';
import { handOffRows, handOffTensors } from './zones.ts';
import { parentCompatibility, recordBreed, type BreedRecords } from './records.ts';

/**
 * The evaluator the CPU lab names in its sidecars: the same scoring code as the app's
 * (src/core/eval/evaluate.ts), but logits from a JavaScript MLP forward pass, not onnxruntime,
 * so its sidecars are never mistaken for onnxruntime runs.
 */
export const CPU_LAB_EVALUATOR = Object.freeze({ id: 'slm-garden/evaluate-classifier-js', version: EVALUATOR_VERSION } as const);

/** A candidate's inference code: weights and a batch of rows (both copies) → logits. */
export type Forward = (params: MlpParams, x: Float32Array, batch: number) => Float32Array;

export interface CpuLabOptions {
  /**
   * Models by id (parents, champion): .slm hash, species (and graph, vocabulary when the file
   * carries them) and tensors, as `garden breed` reads them. Bred candidates are added under their
   * .slm hash.
   */
  models: Map<string, ParentInfo>;
  /** Suite file bytes by their SHA-256 (the evaluation zone's store). */
  suites: ReadonlyMap<Sha256Hex, Uint8Array>;
  /** Default: the MLP CPU forward pass. */
  forward?: Forward;
  batch?: number;
  /** The resource ceilings the breeds' lineage templates record (the policy's). */
  budget?: Ceilings;
}

export interface CpuLab {
  deps: LabRoundDeps;
  /** Bred candidates: id → .slm bytes. */
  candidates: Map<string, Uint8Array>;
  /** Each bred candidate's documents (recordBreed): id → compatibility report, lineage, receipt, candidate manifest. */
  records: Map<string, BreedRecords>;
}

/** Each call of a candidate's forward pass gets its own copy of the weights. */
function copyWeights(p: MlpParams): MlpParams {
  return { shape: { ...p.shape }, w1: p.w1.slice(), b1: p.b1.slice(), w2: p.w2.slice(), b2: p.b2.slice() };
}

export function cpuLab(opts: CpuLabOptions): CpuLab {
  const forward = opts.forward ?? mlpForward;
  const candidates = new Map<string, Uint8Array>();
  const records = new Map<string, BreedRecords>();
  const parsedSuites = new Map<Sha256Hex, Suite>();
  const getInfo = (id: string): ParentInfo => {
    const m = opts.models.get(id);
    if (!m) throw new Error(`no model "${id}"; known: ${[...opts.models.keys()].map((k) => k.slice(0, 16)).join(', ')}`);
    return m;
  };
  const getModel = (id: string): readonly Tensor[] => getInfo(id).tensors;
  const deps: LabRoundDeps = {
    evaluator: { ...CPU_LAB_EVALUATOR },
    async breed(recipe: Readonly<RoundRecipe>): Promise<BredCandidate> {
      const infos = recipe.parents.map(getInfo);
      const res = await breed(
        {
          operator: recipe.operator,
          params: recipe.params as never,
          seed: recipe.seed,
          parents: infos.map((p) => handOffTensors(p.tensors)),
        },
        cpuBackend,
      );
      const file = candidateSlm(res, infos);
      candidates.set(file.hash, file.bytes);
      const compatibility = parentCompatibility(infos.map((p) => ({ id: p.hash, species: p.species, tensors: p.tensors })));
      records.set(
        file.hash,
        recordBreed({ result: res, file, parents: infos.map((p) => p.hash), requested: recipe.params, budget: opts.budget, compatibility }),
      );
      const first = infos[0];
      opts.models.set(file.hash, {
        hash: file.hash,
        species: file.species,
        ...(first.graph !== undefined && !file.graph ? { graph: first.graph } : {}),
        ...(first.vocabulary ? { vocabulary: first.vocabulary } : {}),
        tensors: res.tensors,
      });
      return { id: file.hash, bytes: file.bytes.length, ms: res.ms };
    },
    async smoke(candidateId: string): Promise<SmokeReport> {
      const weights = mlpFromTensors(handOffTensors(getModel(candidateId)));
      const { inputs: F, classes: C } = weights.shape;
      const r = await runtimeSmoke(async (x, batch) => forward(copyWeights(weights), handOffRows(x), batch), {
        featureSize: F,
        outputSize: C,
      });
      return smokeReport(r, 'CPU MLP forward (JavaScript)', C);
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
      const run = async (x: Float32Array, batch: number) => forward(copyWeights(weights), handOffRows(x), batch);
      const r = await evaluateClassifier(run, s, { batch: opts.batch ?? 256, expectedSuiteHash: suite.hash });
      return { accuracy: r.metrics.accuracy, ece: r.metrics.ece, nll: r.metrics.nll, latencyMs: r.metrics.medianLatencyPerRowMs };
    },
  };
  return { deps, candidates, records };
}
