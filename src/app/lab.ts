/**
 * The lab's rules where the user acts (src/core/lab): the exit check on this garden, the slot's
 * failure cluster fed by "mark wrong" and by requests the whole stack failed, a lab round started
 * from it (it proposes, never promotes), the allele lifecycle with re-expression, and the
 * resilience check that feeds temporal fitness. Every decision is the core's; this file gathers
 * the garden's data for it and mirrors the outcome into its own small store.
 */
import { create } from 'zustand';
import { labHandles, modelFile, SLOT } from './garden.ts';
import { checkSlmMetadata } from '../core/format/slm.ts';
import type { ParentInfo } from '../core/operators/candidate.ts';
import { exitCheck, type ExitReport, type GardenCandidate } from '../core/lab/exit-check.ts';
import { FailureCluster, clusterRound, type ClusterDigest, type ClusterRoundResult } from '../core/lab/failure-cluster.ts';
import { AlleleLifecycle, readAlleles, type Allele } from '../core/lab/alleles.ts';
import { cpuLab } from '../core/lab/cpu-deps.ts';
import { inputDrift, resilienceEvidence, temporalFitness, evidenceOf, type TemporalFitness } from '../core/lab/temporal-fitness.ts';
import { readSuite, suiteRows } from '../core/eval/suite.ts';
import type { ModelEntry } from './state.ts';
import { benefitVerdict, candidateRoundTrip, dataRoundTrip, type BenefitVerdict, type RetainedSuite } from '../core/lab/benefit.ts';

export interface LastRequest {
  requestId: string;
  input: Float32Array;
  /** The model that answered; null when every model of the stack failed. */
  answeredBy: string | null;
  stackFailed: boolean;
}

export interface LabState {
  last: LastRequest | null;
  /** Request ids already in the cluster (so "mark wrong" says it was taken). */
  marked: string[];
  digest: ClusterDigest | null;
  alleles: Allele[];
  /** Temporal fitness of each model with evidence in the slot (credits per kind). */
  credits: Record<string, TemporalFitness>;
  exit: ExitReport | null;
  round: ClusterRoundResult | null;
  busy: 'exit' | 'round' | 'resilience' | null;
  message: string | null;
}

export const useLab = create<LabState>()(() => ({
  last: null,
  marked: [],
  digest: null,
  alleles: [],
  credits: {},
  exit: null,
  round: null,
  busy: null,
  message: null,
}));

const set = useLab.setState;

let cluster: FailureCluster | null = null;

function theCluster(): FailureCluster {
  const { family } = labHandles();
  cluster ??= new FailureCluster(SLOT, family.input.shape[0], family.output.labels.length);
  return cluster;
}

/** The router's last request, kept so the user can mark its answer wrong (or label a stack failure). */
export function noteRequest(r: LastRequest): void {
  set({ last: { ...r, input: Float32Array.from(r.input) } });
}

/** The user says the last answer was wrong and gives the right one: it joins the slot's failure cluster. */
export function markWrong(label: number): void {
  const last = useLab.getState().last;
  if (!last) return;
  const c = theCluster();
  c.add({ requestId: last.requestId, input: last.input, label, source: last.stackFailed ? 'stack-failed' : 'user-marked' });
  set((s) => ({ marked: [...new Set([...s.marked, last.requestId])], digest: c.digest(), message: null }));
}

/** Every model of the garden as the core's lab functions take it: by registry id and by .slm hash. */
async function gardenModels(models: readonly ModelEntry[]): Promise<Map<string, ParentInfo>> {
  const { repo } = labHandles();
  const out = new Map<string, ParentInfo>();
  for (const m of models) {
    if (!m.metadata) continue;
    const info: ParentInfo = { ...checkSlmMetadata(m.metadata), hash: m.hash, tensors: await repo.getTensors(m.id) };
    out.set(m.id, info);
    out.set(m.hash, info);
  }
  return out;
}

/** The policy's pinned suites, by hash, from the evaluation zone. */
async function pinnedSuites(): Promise<Map<string, Uint8Array>> {
  const { repo, policy } = labHandles();
  const out = new Map<string, Uint8Array>();
  for (const pin of Object.values(policy.current().suites)) out.set(pin, await repo.getSuite(pin));
  return out;
}

async function busy(what: LabState['busy'], f: () => Promise<void>): Promise<void> {
  if (useLab.getState().busy) return;
  set({ busy: what, message: null });
  try {
    await f();
  } catch (e) {
    set({ message: (e as Error).message });
  } finally {
    set({ busy: null });
    refreshAlleles();
  }
}

/** The five criteria of the exit check (src/core/lab/exit-check.ts) on this garden. */
export function runExitCheck(models: readonly ModelEntry[]): Promise<void> {
  return busy('exit', async () => {
    const { repo } = labHandles();
    const candidates = new Map<string, GardenCandidate>();
    for (const m of models.filter((x) => x.role === 'candidate')) {
      const { bytes } = await modelFile(m.id);
      candidates.set(m.hash, { bytes, manifests: await repo.manifestsOf(m.id) });
    }
    const report = await exitCheck({
      ledger: repo.ledger.toFile(),
      models: await gardenModels(models),
      suites: await pinnedSuites(),
      candidates,
    });
    set({ exit: report });
  });
}

/** The slot's alleles and temporal fitness, replayed from the ledger. */
export function refreshAlleles(): void {
  const { repo } = labHandles();
  const entries = repo.ledger.entries();
  const alleles = readAlleles(entries).get(SLOT) ?? [];
  const credits: Record<string, TemporalFitness> = {};
  for (const model of new Set(evidenceOf(entries, SLOT).map((e) => e.model)))
    credits[model] = temporalFitness(evidenceOf(entries, SLOT, model));
  set({ alleles, credits });
}

function lifecycle(): AlleleLifecycle {
  const { repo, release } = labHandles();
  return new AlleleLifecycle({ ledger: repo.ledger, release });
}

/** Re-express a recessive allele as champion without breeding (a ledgered release on the recessive basis). */
export function reexpress(model: string, name: string): Promise<void> {
  return busy('resilience', async () => {
    await lifecycle().reexpress(SLOT, model, `the user re-expressed ${name}`);
    labHandles().syncLab();
  });
}

/** A cluster half as a suite the CPU lab evaluates (bytes by hash), or null when that half is empty. */
function half(c: FailureCluster, h: 'select' | 'heldOut'): { hash: string; bytes: Uint8Array; count: number } | null {
  return c.split()[h].length ? c.suite(h) : null;
}

/**
 * Resilience check of the champion on the fresh user-labelled examples (the failure cluster),
 * with the drift of their inputs from the clean suite's: a `fitness-evidence` entry. A failed
 * check that leaves the champion below the threshold re-expresses the best recessive (or demotes).
 */
export function resilienceCheck(models: readonly ModelEntry[]): Promise<void> {
  return busy('resilience', async () => {
    const { release, policy, family, syncLab } = labHandles();
    const c = theCluster();
    const champion = release.current(SLOT).champion;
    if (!champion) throw new Error('the slot has no champion to check');
    if (!c.size) throw new Error('the failure cluster is empty: mark an answer wrong first');
    const halves = [half(c, 'select'), half(c, 'heldOut')].filter((x): x is NonNullable<typeof x> => !!x);
    const suites = new Map(halves.map((h) => [h.hash, h.bytes]));
    const lab = cpuLab({ models: await gardenModels(models), suites });
    let correct = 0;
    for (const h of halves)
      correct += Math.round((await lab.deps.evaluate(champion, { name: 'cluster', hash: h.hash })).accuracy * h.count);
    const clean = (await pinnedSuites()).get(policy.current().suites.clean);
    if (!clean) throw new Error('the policy pins no clean suite to measure drift against');
    const suite = readSuite(clean);
    const featureSize = family.input.shape[0];
    const recent = new Float32Array(c.size * featureSize);
    [...c.split().select, ...c.split().heldOut].forEach((e, i) => recent.set(e.input, i * featureSize));
    const drift = inputDrift(suiteRows(suite, 0, suite.count), recent, featureSize);
    const ev = resilienceEvidence(SLOT, champion, { correct, total: c.size, drift, minAccuracy: 0.8, maxDrift: 1 });
    const out = await lifecycle().recordEvidence(ev);
    const name = (id: string | null) => models.find((m) => m.id === id)?.name ?? String(id);
    set({
      message: `Resilience of ${name(champion)}: ${ev.detail}; ${ev.passed ? 'passed' : 'failed'}; temporal fitness ${out.fitness.toFixed(4)}${
        out.action === 'reexpressed'
          ? `; ${name(out.replacement)} re-expressed`
          : out.action === 'demoted'
            ? `; demoted, ${name(out.replacement)} answers`
            : ''
      }.`,
    });
    syncLab();
  });
}

/**
 * A lab round from the failure cluster (clusterRound): the approved pool ranked on the selection
 * half, a blend of the best two bred on the CPU, every model judged on the frozen suites plus the
 * held-out half. It proposes; nothing is admitted or released.
 */
export function roundFromCluster(models: readonly ModelEntry[]): Promise<void> {
  return busy('round', async () => {
    const { release, policy } = labHandles();
    const c = theCluster();
    const sel = half(c, 'select');
    const held = half(c, 'heldOut');
    if (!sel || !held) throw new Error(`a round needs examples in both halves of the cluster; it has ${c.size} (mark more answers wrong)`);
    const suites = await pinnedSuites();
    suites.set(sel.hash, sel.bytes);
    suites.set(held.hash, held.bytes);
    const pool = models.filter((m) => m.role !== 'candidate');
    const lab = cpuLab({ models: await gardenModels(models), suites });
    const round = await clusterRound(
      c,
      {
        policy: policy.current(),
        approved: pool.map((m) => m.id),
        champion: release.current(SLOT).champion,
        parentCount: 2,
        recipes: [{ operator: 'blend', params: { normalize: true }, seed: 1 }],
      },
      lab.deps,
    );
    set({ round });
  });
}

/** Short content hash of a cluster digest (shown; the contents never leave the page). */
export const digestLabel = (d: ClusterDigest) => `${d.count} examples · ${d.contents.slice(0, 12)}`;

/**
 * Benefit-centred release (benefit.ts) of the model waiting in canary or shadow against the
 * champion: benefit on the policy's primary suite, exit (the candidate's safetensors round trip, the
 * ledger's and the cluster digest's), efficiency (bytes, latency) and retention on every pinned
 * suite the champion scored. Shown beside the release buttons with its numbers.
 */
export async function benefitOf(challenger: ModelEntry, champion: ModelEntry): Promise<BenefitVerdict> {
  const { repo, policy, scored: scoredOf } = labHandles();
  const p = policy.current();
  const champ = scoredOf(champion);
  const retained: RetainedSuite[] = Object.keys(p.suites).flatMap((suite) => {
    const v = champ.metrics[suite]?.[p.primary.metric];
    return typeof v === 'number'
      ? [{ suite, metric: p.primary.metric, direction: p.primary.direction, champion: champion.name, value: v }]
      : [];
  });
  const digest = useLab.getState().digest;
  return benefitVerdict({
    candidate: scoredOf(challenger),
    champion: champ,
    user: { suite: p.primary.suite, metric: p.primary.metric, direction: p.primary.direction },
    exit: [candidateRoundTrip(await repo.getTensors(challenger.id)), await dataRoundTrip(repo.ledger, digest ? { cluster: digest } : {})],
    retained,
  });
}
