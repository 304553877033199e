/**
 * The lab's rules where the user acts (src/core/lab): the exit check on this garden, the slot's
 * failure cluster fed by "mark wrong" and by requests the whole stack failed, a lab round started
 * from it (it proposes, never promotes), the allele lifecycle with re-expression, and the
 * resilience check that feeds temporal fitness. Every decision is the core's; this file gathers
 * the garden's data for it and mirrors the outcome into its own small store.
 */
import { create } from 'zustand';
import { labHandles, SLOT } from './garden.ts';
import { ExportCancelled, readModelFile, type ExportProgress } from './export-progress.ts';
import { checkSlmMetadata } from '../core/format/slm.ts';
import type { ParentInfo } from '../core/operators/candidate.ts';
import { exitCheck, type ExitReport, type GardenCandidate } from '../core/lab/exit-check.ts';
import { FailureCluster, clusterRound, type ClusterDigest, type ClusterRoundResult } from '../core/lab/failure-cluster.ts';
import { AlleleLifecycle, readAlleles, type Allele } from '../core/lab/alleles.ts';
import { cpuLab } from '../core/lab/cpu-deps.ts';
import {
  convergenceEvidence,
  evidenceOf,
  immediateEvidence,
  inputDrift,
  resilienceEvidence,
  shadowAgreement,
  temporalFitness,
  type TemporalFitness,
} from '../core/lab/temporal-fitness.ts';
import { verifyMet } from '../core/lab/contract.ts';
import { readSuite, suiteRows } from '../core/eval/suite.ts';
import type { ModelEntry } from './state.ts';
import {
  benefitVerdict,
  candidateRoundTrip,
  dataRoundTrip,
  pairedLatency,
  type BenefitVerdict,
  type RetainedSuite,
} from '../core/lab/benefit.ts';

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
  /** Benefit-centred release of the slot's challenger (canary, else shadow) against its champion; it gates Make champion. */
  benefit: BenefitJudgement | null;
  /** The exit check reading the candidates' .slm files from the store (null when it is not). */
  exitProgress: ExportProgress | null;
}

export interface BenefitJudgement {
  challenger: string;
  champion: string;
  verdict: BenefitVerdict | null;
  /** Why it could not be judged, when it could not. */
  error: string | null;
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
  benefit: null,
  exitProgress: null,
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

let exitCancelled = false;

/** Stop the exit check's reading of the candidates at the next tensor: no report is made. */
export function cancelExitCheck(): void {
  exitCancelled = true;
}

/** The five criteria of the exit check (src/core/lab/exit-check.ts) on this garden. */
export function runExitCheck(models: readonly ModelEntry[]): Promise<void> {
  return busy('exit', async () => {
    const { repo } = labHandles();
    const candidates = new Map<string, GardenCandidate>();
    const files = models.filter((x) => x.role === 'candidate');
    // Each candidate's .slm read tensor by tensor (hash checked), with one bar over all of them.
    exitCancelled = false;
    const progress: ExportProgress = { done: 0, total: files.reduce((n, m) => n + m.bytes, 0), model: '', startedAt: performance.now() };
    try {
      for (const m of files) {
        const before = progress.done;
        const { bytes } = await readModelFile(
          repo,
          m,
          (done) => set({ exitProgress: { ...progress, model: m.name, done: before + done } }),
          () => exitCancelled,
        );
        progress.done = before + bytes.length;
        candidates.set(m.hash, { bytes, manifests: await repo.manifestsOf(m.id) });
      }
    } catch (e) {
      if (e instanceof ExportCancelled) throw new Error('The exit check was cancelled while it read the candidates: no report was made.');
      throw e;
    } finally {
      set({ exitProgress: null });
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

/** Inputs each model runs for the paired latency of a benefit verdict. */
const LATENCY_INPUTS = 31;
const latencies = new Map<string, Promise<{ saved: number; how: string }>>();

/** The graph and tensor layout (names, dtypes, shapes) a model runs: equal layouts do the same work. */
async function layoutOf(m: ModelEntry): Promise<string> {
  const { repo, family } = labHandles();
  const ts = await repo.getTensors(m.id);
  const shapes = ts.map((t) => `${t.name}:${t.dtype}[${t.shape.join(',')}]`).sort();
  return `${m.graphHash ?? family.graphHash}\n${shapes.join('\n')}`;
}

/**
 * Latency of `challenger` against `champion` for a benefit verdict, once per pair in this page. Two
 * models with the same graph and tensor layout run the same operations on the same shapes: the
 * same work, whatever a timer on a loaded machine says. Otherwise they are timed paired
 * (benefit.ts pairedLatency) on rows of the clean pinned suite. (Their evaluations' latencies were
 * measured minutes apart under other loads: comparing those compares the machine, not the models.)
 */
function latencyOf(challenger: ModelEntry, champion: ModelEntry) {
  const key = `${challenger.hash}\n${champion.hash}`;
  let p = latencies.get(key);
  if (!p) {
    p = (async () => {
      if ((await layoutOf(challenger)) === (await layoutOf(champion)))
        return { saved: 0, how: 'the same graph and tensor layout as the champion: the same work' };
      const { policy, invoke } = labHandles();
      const clean = (await pinnedSuites()).get(policy.current().suites.clean);
      if (!clean) throw new Error('the policy pins no clean suite to time the models on');
      const suite = readSuite(clean);
      const row = (i: number) => suiteRows(suite, i % suite.count, (i % suite.count) + 1);
      // One run each first: a cold session's creation is not latency.
      await invoke(challenger.id, row(0));
      await invoke(champion.id, row(0));
      const ms = await pairedLatency(
        { candidate: (i) => invoke(challenger.id, row(i)), champion: (i) => invoke(champion.id, row(i)) },
        LATENCY_INPUTS,
        () => performance.now(),
      );
      return {
        saved: ms.champion > 0 ? (ms.champion - ms.candidate) / ms.champion : 0,
        how: `timed paired on ${ms.inputs} inputs: median ${ms.candidate.toFixed(3)} ms vs ${ms.champion.toFixed(3)} ms`,
      };
    })();
    latencies.set(key, p);
    p.catch(() => latencies.delete(key));
  }
  return p;
}

/**
 * Benefit-centred release (benefit.ts) of the model waiting in canary or shadow against the
 * champion: benefit on the policy's primary suite, exit (the candidate's safetensors round trip, the
 * ledger's and the cluster digest's), efficiency (bytes, and latency: latencyOf) and retention
 * on every pinned suite the champion scored. Shown beside the release buttons with its numbers; it
 * gates Make champion.
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
    latency: await latencyOf(challenger, champion),
  });
}

/** Judge benefit-centred release of `challenger` against `champion` into the store (BenefitView and the Make champion gate read it). */
export async function judgeBenefit(challenger: ModelEntry, champion: ModelEntry): Promise<void> {
  const key = { challenger: challenger.id, champion: champion.id };
  const verdict = await benefitOf(challenger, champion).catch((e: unknown) => e as Error);
  const b = verdict instanceof Error ? { ...key, verdict: null, error: verdict.message } : { ...key, verdict, error: null };
  // A judgement of a pair that is no longer the slot's is dropped.
  const reg = labHandles().release.current(SLOT);
  if ((reg.canary?.model ?? reg.shadow) === key.challenger && reg.champion === key.champion) set({ benefit: b });
}

/**
 * Benefit-centred release gates Make champion: a challenger the verdict keeps as an experiment is
 * refused, with the numbers. Judged afresh here (the shown verdict may be older); the verdict's
 * benefit line is returned for the release entry's reason.
 */
export async function requireBenefit(challenger: ModelEntry, champion: ModelEntry | null): Promise<string> {
  if (!champion) return 'no champion to judge benefit against';
  const v = await benefitOf(challenger, champion);
  if (v.decision !== 'release')
    throw new Error(`benefit-centred release keeps ${challenger.name} as an experiment: ${v.reasons.join('; ')}`);
  return `benefit-centred release: ${v.benefit.text}`;
}

/** Immediate evidence of a model released into the slot: its recorded runtime smoke, a `fitness-evidence` entry. */
export async function recordImmediate(model: string, smoke: { passed: boolean; reasons: readonly string[] }): Promise<void> {
  await lifecycle().recordEvidence(immediateEvidence(SLOT, model, smoke));
}

/** Routed requests (answered or shadowed) a model needs before its convergence is judged in the app. */
export const CONVERGENCE_REQUESTS = 3;

/**
 * Convergence evidence of each of `models` at a release decision: shadow agreement over the
 * router's shadow log (as shadow, or as the answer a shadow was compared with) and the slot
 * contract's verify lines met on its pinned-suite scores, once it has CONVERGENCE_REQUESTS routed
 * requests. Returns, per model, what was recorded or why nothing was.
 */
export async function recordConvergence(models: readonly string[]): Promise<string[]> {
  const { router, policy, family, verb, scored, modelById } = labHandles();
  const pins = policy.current().suites;
  const nameOf = (suiteId: string) => {
    const hash = family.suites.find((x) => x.id === suiteId)?.hash;
    return Object.keys(pins).find((n) => pins[n] === hash) ?? null;
  };
  const out: string[] = [];
  for (const model of models) {
    const requests = router.stats(SLOT)[model]?.invocations ?? 0;
    const shadow = shadowAgreement(router.shadowLog(SLOT), model);
    const who = modelById(model).name;
    if (requests < CONVERGENCE_REQUESTS || shadow.agreement === null) {
      out.push(
        `${who}: no convergence yet (${requests} of ${CONVERGENCE_REQUESTS} routed requests, ${shadow.compared} compared with a shadow)`,
      );
      continue;
    }
    const metrics = scored(modelById(model)).metrics;
    const met = verifyMet(verb.verify, (suite, metric) => {
      const n = nameOf(suite);
      const v = n ? metrics[n]?.[metric] : undefined;
      return typeof v === 'number' ? v : null;
    });
    const ev = convergenceEvidence(SLOT, model, {
      requests,
      minRequests: CONVERGENCE_REQUESTS,
      agreement: shadow.agreement,
      suitesPassed: met.passed,
      suitesTotal: met.total,
    });
    await lifecycle().recordEvidence({ ...ev, detail: `${ev.detail} (${met.lines.join('; ')})` });
    out.push(`${who}: convergence ${ev.passed ? 'passed' : 'failed'}, ${ev.detail}`);
  }
  return out;
}
