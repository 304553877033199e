/**
 * UI state, in one zustand store. Actions that do work live in garden.ts and call `set` here;
 * this file holds only state and trivial setters, so it can be created in tests without a DOM.
 */
import { create } from 'zustand';
import type { BreedProgress, TensorStat } from '../core/operators/breed.ts';
import type { ParamValues } from '../core/operators/types.ts';
import type { EvaluationResult } from '../core/eval/types.ts';
import type { SmokeResult } from '../core/eval/smoke.ts';
import type { SelectorRegistry, Policy } from '../core/manifest/index.ts';
import type { ViabilityVerdict } from '../core/lab/viability.ts';

export type ModelRole = 'base' | 'specialist' | 'candidate';

export interface ModelEntry {
  id: string;
  name: string;
  role: ModelRole;
  family: string;
  /** SHA-256 of the model's .slm bytes. */
  hash: string;
  species: string;
  bytes: number;
  description: string;
  parents?: string[];
  operator?: string;
  /** The .slm file's __metadata__, so the file can be rebuilt byte for byte from stored tensors. */
  metadata?: Record<string, string>;
  /** SHA-256 of the model's own inference graph when it is not the family's (quantized candidates). */
  graphHash?: string;
  /** When the garden made or imported it (ISO 8601); absent for the starter models. */
  createdAt?: string;
}

export interface Evidence {
  smoke?: SmokeResult;
  /** Policy suite name (e.g. "mixed", "clean") → result. */
  evaluations: Record<string, EvaluationResult>;
  /** Policy suite name → evaluation sidecar hash. */
  sidecars: Record<string, string>;
  viability?: ViabilityVerdict;
  /** The champion the verdict was judged against (a verdict is stale once the champion changes). */
  judgedAgainst?: string | null;
  admitted?: string;
}

export interface Receipt {
  hash: string;
  operator: string;
  params: ParamValues;
  seed: number;
  backend: { kind: string; adapter: string; software: boolean };
  inputs: string[];
  output: string;
  ms: number;
  tensors: TensorStat[];
  /** RegMean and Fisher: the calibration split they fitted on and what each tensor's statistics said (κ, unseen inputs, Fisher means). */
  calibration?: { split: string; rows: number; kind: string; notes: string[] };
}

export interface RouteAnswer {
  label: string;
  probabilities: number[];
  modelId: string;
  modelName: string;
  fellBack: string[];
  canary: boolean;
  shadow: { model: string; agreed: boolean | null } | null;
  ms: number;
}

export interface ShadowSummary {
  model: string | null;
  compared: number;
  disagreed: number;
  failed: number;
  disagreement: number;
}

export interface LedgerLine {
  index: number;
  type: string;
  summary: string;
  hash: string;
  at: string;
}

/** Work that can run side by side; each has its own flag, so one finishing never frees another. */
export type Task = 'breed' | 'evaluate' | 'route';
/** Work in progress by kind; `startedAt` (performance.now()) gives its ETA. */
export type Tasks = Partial<Record<Task, { done: number; total: number; model?: string; startedAt?: number }>>;

export interface GardenState {
  phase: 'loading' | 'ready' | 'error';
  error: string | null;
  notice: string | null;
  offlineReady: boolean;
  backend: { kind: string; adapter: string; software: boolean } | null;
  storage: { usage: number; quota: number; persisted: boolean; storedBytes: number; savedBytes: number } | null;
  models: ModelEntry[];
  evidence: Record<string, Evidence>;
  selected: string[];
  operator: string;
  params: ParamValues;
  seed: number;
  /** Where onnxruntime runs the models: wasm on the CPU, or its WebGPU execution provider. */
  inference: 'wasm' | 'webgpu';
  tasks: Tasks;
  progress: BreedProgress | null;
  candidateId: string | null;
  receipt: Receipt | null;
  registry: SelectorRegistry | null;
  registryVersions: number;
  canRollback: boolean;
  policy: Policy | null;
  shadow: ShadowSummary | null;
  route: RouteAnswer | null;
  ledger: LedgerLine[];
  ledgerOk: { ok: boolean; message: string } | null;
  /** Whether "Make champion" can act now, and the reason when it cannot. */
  championGate: { ok: boolean; reason: string } | null;
  /** Form fields holding a value outside their valid range: name → what is valid. */
  invalid: Record<string, string>;
  /** Bumped when the breed form is filled from outside (a mergekit config): its fields show the new values. */
  formVersion: number;

  setOfflineReady(v: boolean): void;
  toggleSelected(id: string): void;
  setOperator(id: string): void;
  setParam(name: string, value: ParamValues[string]): void;
  setSeed(seed: number): void;
  setInference(ep: 'wasm' | 'webgpu'): void;
  dismissNotice(): void;
  setInvalid(name: string, reason: string | null): void;
}

export const useGarden = create<GardenState>()((set) => ({
  phase: 'loading',
  error: null,
  notice: null,
  offlineReady: false,
  backend: null,
  storage: null,
  models: [],
  evidence: {},
  selected: [],
  operator: 'blend',
  params: { normalize: true },
  seed: 1,
  inference: 'wasm',
  tasks: {},
  progress: null,
  candidateId: null,
  receipt: null,
  registry: null,
  registryVersions: 0,
  canRollback: false,
  policy: null,
  shadow: null,
  route: null,
  ledger: [],
  ledgerOk: null,
  championGate: null,
  invalid: {},
  formVersion: 0,

  setOfflineReady: (v) => set({ offlineReady: v }),
  toggleSelected: (id) => set((s) => ({ selected: s.selected.includes(id) ? s.selected.filter((x) => x !== id) : [...s.selected, id] })),
  setOperator: (id) => set({ operator: id, params: {} }),
  setParam: (name, value) => set((s) => ({ params: { ...s.params, [name]: value } })),
  setSeed: (seed) => set({ seed }),
  setInference: (inference) => set({ inference }),
  dismissNotice: () => set({ notice: null }),
  setInvalid: (name, reason) =>
    set((s) => {
      const invalid = { ...s.invalid };
      if (reason) invalid[name] = reason;
      else delete invalid[name];
      return { invalid };
    }),
}));
