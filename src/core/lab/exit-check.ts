/**
 * The exit check: can the user walk away from this garden with everything they need, and trust
 * what it did? Five questions, each answered with its evidence:
 *
 *   reproduce — every admitted candidate is bred again from its lineage (lineage template: parents
 *               by hash, operator, parameters, seed) with the CPU reference operators and hashes to
 *               the same .slm bytes;
 *   reject    — a seeded regression set made from the champion (a NaN weight, weights drowned in
 *               noise, the output rows shuffled) is refused by the gates: runtime smoke, or
 *               viability against the champion under the ledger's policy;
 *   explain   — every decision in the ledger says why: each release, rollback, allele, approval,
 *               policy change and re-baseline has a reason; each admission's gates carry detail;
 *   verify    — every hash holds: the ledger chain and head, each registry against its registryHash,
 *               each admission record against admissionHash and its template, the policies, each
 *               candidate's file and documents;
 *   rollback  — on a copy of the ledger, every slot rolls back version by version to its creation,
 *               each step restoring the previous registry byte for byte.
 *
 * The check is pure: the caller hands in the ledger file, the models (parents and champion) with
 * their tensors, the suites by hash and the candidates' files and documents (`garden lab --out`).
 * It never writes to the user's ledger.
 */
import { canonicalJson, sha256Hex, type Sha256Hex } from '../hash.ts';
import type {
  AdmissionRecord,
  CandidateManifest,
  LedgerEntry,
  LineageTemplate,
  Policy,
  PromotionTemplate,
  SelectorRegistry,
} from '../manifest/kinds.ts';
import { manifestHash } from '../manifest/index.ts';
import { validateManifest } from '../manifest/validate.ts';
import type { ParentInfo } from '../operators/candidate.ts';
import { mulberry32 } from '../seeded.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';
import { cpuLab } from './cpu-deps.ts';
import { Ledger, MemoryLedgerStore, verifyLedger, type LedgerFile } from './ledger.ts';
import { PolicyZone } from './policy.ts';
import { ReleaseController } from './release.ts';
import type { Scored } from './viability.ts';
import { viability } from './viability.ts';

export const EXIT_CRITERIA = Object.freeze(['reproduce', 'reject', 'explain', 'verify', 'rollback'] as const);
export type ExitCriterion = (typeof EXIT_CRITERIA)[number];

export interface CriterionResult {
  ok: boolean;
  /** One line: what was checked and how it came out. */
  summary: string;
  evidence: Record<string, unknown>[];
}

export type ExitReport = Record<ExitCriterion, CriterionResult>;

export interface GardenCandidate {
  /** The candidate's .slm bytes, when the garden holds them. */
  bytes?: Uint8Array;
  /** Its documents (lineage template, operator receipt, candidate manifest …) as `garden lab --out` wrote them. */
  manifests?: readonly unknown[];
}

export interface ExitGarden {
  ledger: LedgerFile;
  /** Models the garden holds (parents, champion), by registry id and by .slm hash. */
  models: ReadonlyMap<string, ParentInfo>;
  /** Suite bytes by SHA-256 (the policy's pins). */
  suites: ReadonlyMap<Sha256Hex, Uint8Array>;
  /** Admitted candidates by .slm hash. */
  candidates: ReadonlyMap<string, GardenCandidate>;
  /** Seed of the regression set (default 1). */
  seed?: number;
}

const short = (h: string) => h.slice(0, 16);
const result = (evidence: Record<string, unknown>[], summary: (bad: number) => string, extra = true): CriterionResult => {
  const bad = evidence.filter((e) => e.ok === false).length;
  return { ok: bad === 0 && extra, summary: summary(bad), evidence };
};

function admissions(
  entries: readonly LedgerEntry[],
): { index: number; slot: string; model: string; candidate: string; payload: Record<string, unknown> }[] {
  return entries
    .filter((e) => e.type === 'admission')
    .map((e) => ({
      index: e.index,
      slot: String(e.payload.slot),
      model: String(e.payload.model),
      candidate: String(e.payload.candidate),
      payload: e.payload,
    }));
}

function documentsOf(c: GardenCandidate | undefined): { lineage: LineageTemplate | null; manifest: CandidateManifest | null } {
  let lineage: LineageTemplate | null = null;
  let manifest: CandidateManifest | null = null;
  for (const m of c?.manifests ?? []) {
    const kind = (m as { kind?: unknown })?.kind;
    if (kind === 'lineage-template') lineage = validateManifest(m, 'lineage-template');
    if (kind === 'candidate-manifest') manifest = validateManifest(m, 'candidate-manifest');
  }
  return { lineage, manifest };
}

async function reproduce(g: ExitGarden, entries: readonly LedgerEntry[]): Promise<CriterionResult> {
  const ev: Record<string, unknown>[] = [];
  const byHash = new Map<string, ParentInfo>();
  for (const m of g.models.values()) byHash.set(m.hash, m);
  for (const a of admissions(entries)) {
    const base = { ledgerIndex: a.index, slot: a.slot, candidate: a.candidate };
    try {
      const { lineage, manifest } = documentsOf(g.candidates.get(a.candidate));
      if (!lineage || !manifest) {
        ev.push({
          ...base,
          ok: false,
          reason: `the garden holds no lineage template and candidate manifest for ${short(a.candidate)}… (the documents garden lab --out writes)`,
        });
        continue;
      }
      if (manifest.lineage !== manifestHash(lineage)) {
        ev.push({
          ...base,
          ok: false,
          reason: `the candidate manifest binds lineage ${short(manifest.lineage)}…, but the lineage template hashes to ${short(manifestHash(lineage))}…`,
        });
        continue;
      }
      const missing = lineage.parents.filter((p) => !byHash.has(p));
      if (missing.length) {
        ev.push({ ...base, ok: false, reason: `parents not in the garden: ${missing.map(short).join(', ')}` });
        continue;
      }
      const models = new Map<string, ParentInfo>([...byHash]);
      const lab = cpuLab({ models, suites: new Map() });
      const bred = await lab.deps.breed({
        operator: lineage.operator.id,
        parents: [...lineage.parents],
        params: lineage.params,
        seed: lineage.seed,
      });
      const ok = bred.id === a.candidate;
      ev.push({
        ...base,
        ok,
        lineage: manifestHash(lineage),
        operator: `${lineage.operator.id}@${lineage.operator.version}`,
        seed: lineage.seed,
        parents: lineage.parents,
        recomputed: bred.id,
        ...(ok ? {} : { reason: `bred again, it hashes to ${short(bred.id)}…, not ${short(a.candidate)}…` }),
      });
    } catch (e) {
      ev.push({ ...base, ok: false, reason: (e as Error).message });
    }
  }
  return result(ev, (bad) =>
    ev.length
      ? `${ev.length - bad} of ${ev.length} admitted candidates bred again bit for bit from their lineage`
      : 'no admitted candidate to reproduce',
  );
}

/** The seeded regression set: three known-bad variants of a model. */
export function regressionSet(model: ParentInfo, seed: number): { name: string; how: string; info: ParentInfo }[] {
  const r = mulberry32(seed);
  const floats = model.tensors.map((t) => ({ t, x: toFloat32(t) }));
  const make = (name: string, how: string, f: (x: Float32Array, t: Tensor, i: number) => Float32Array) => {
    const tensors = floats.map(({ t, x }, i) => fromFloat32(t.name, [...t.shape], f(x.slice(), t, i), t.dtype));
    return { name, how, info: { ...model, hash: `regression:${name}:${seed}`, tensors } };
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const largest = floats.reduce((b, f, i) => (f.x.length > floats[b].x.length ? i : b), 0);
  const last2d =
    floats
      .map((f, i) => ({ f, i }))
      .filter(({ f }) => f.t.shape.length === 2)
      .pop()?.i ?? largest;
  const outs = floats[last2d].t.shape[floats[last2d].t.shape.length - 1];
  // The output layer's bias: a 1-D tensor as long as the output, the one whose name shares most with the layer's weight.
  const common = (a: string, b: string) => [...a].findIndex((ch, k) => ch !== b[k]);
  const outBias =
    floats
      .map((f, i) => ({ f, i }))
      .filter(({ f }) => f.t.shape.length === 1 && f.t.shape[0] === outs)
      .sort((x, y) => common(y.f.t.name, floats[last2d].t.name) - common(x.f.t.name, floats[last2d].t.name))[0]?.i ?? last2d;
  return [
    // In the output bias: a NaN in a weight can be masked (a ReLU's max(0, NaN) gives 0, an idle unit is skipped).
    make('nan-weight', `one value of ${floats[outBias].t.name} set to NaN`, (x, _t, i) => {
      if (i === outBias) x[Math.floor(r() * x.length)] = NaN;
      return x;
    }),
    make('noise', "every weight plus Gaussian noise of 3× the tensor's standard deviation", (x) => {
      let m = 0;
      for (const v of x) m += v / x.length;
      let s = 0;
      for (const v of x) s += (v - m) ** 2 / x.length;
      const sd = Math.sqrt(s) || 1;
      for (let k = 0; k < x.length; k++) x[k] += 3 * sd * gauss();
      return x;
    }),
    make('shuffled-rows', `the rows of ${floats[last2d].t.name} permuted`, (x, t, i) => {
      if (i !== last2d) return x;
      const [rows, cols] = t.shape;
      const perm = Array.from({ length: rows }, (_, k) => k);
      for (let k = rows - 1; k > 0; k--) {
        const j = Math.floor(r() * (k + 1));
        [perm[k], perm[j]] = [perm[j], perm[k]];
      }
      if (perm.every((p, k) => p === k)) perm.reverse();
      const out = new Float32Array(x.length);
      for (let k = 0; k < rows; k++) out.set(x.subarray(perm[k] * cols, (perm[k] + 1) * cols), k * cols);
      return out;
    }),
  ];
}

async function reject(g: ExitGarden, ledger: Ledger | null, policy: Policy | null): Promise<CriterionResult> {
  if (!ledger || !policy) return { ok: false, summary: 'no policy in the ledger to judge the regression set by', evidence: [] };
  const release = ReleaseController.open(ledger);
  const ev: Record<string, unknown>[] = [];
  for (const slot of release.slots()) {
    const champion = release.current(slot).champion;
    const model = champion ? (g.models.get(champion) ?? [...g.models.values()].find((m) => m.hash === champion)) : undefined;
    if (!champion || !model) {
      ev.push({
        slot,
        ok: false,
        reason: champion
          ? `the garden does not hold the champion "${champion}"`
          : 'the slot has no champion to derive a regression set from',
      });
      continue;
    }
    const models = new Map<string, ParentInfo>([[champion, model]]);
    const set = regressionSet(model, g.seed ?? 1);
    for (const b of set) models.set(b.info.hash, b.info);
    const lab = cpuLab({ models, suites: g.suites });
    const score = async (id: string): Promise<Scored> => {
      const metrics: Scored['metrics'] = {};
      for (const [name, hash] of Object.entries(policy.suites)) metrics[name] = await lab.deps.evaluate(id, { name, hash });
      return { id, metrics };
    };
    const champ = await score(champion);
    for (const b of set) {
      const smoke = await lab.deps.smoke!(b.info.hash);
      if (!smoke.passed) {
        ev.push({
          slot,
          candidate: b.name,
          how: b.how,
          seed: g.seed ?? 1,
          ok: true,
          refusedBy: 'runtime-smoke',
          reason: smoke.reasons.join('; '),
        });
        continue;
      }
      const verdict = viability(await score(b.info.hash), { champion: champ, noop: null }, policy);
      ev.push({
        slot,
        candidate: b.name,
        how: b.how,
        seed: g.seed ?? 1,
        ok: !verdict.viable,
        refusedBy: verdict.viable ? null : 'viability',
        reason: verdict.viable ? 'the gates let this known-bad candidate through' : verdict.reasons[0],
      });
    }
  }
  return result(ev, (bad) => `${ev.length - bad} of ${ev.length} known-bad candidates refused`, ev.length > 0);
}

// Storage decisions (archive, restore, delete) say why too.
const REASONED = new Set(['release', 'rollback', 'allele', 'approval', 'policy-change', 're-baseline', 'proposal', 'storage']);

function explain(entries: readonly LedgerEntry[]): CriterionResult {
  const ev: Record<string, unknown>[] = [];
  for (const e of entries) {
    const p = e.payload;
    if (REASONED.has(e.type)) {
      const reason = typeof p.reason === 'string' ? p.reason.trim() : '';
      const noop = e.type === 'release' && p.from === manifestHash(p.registry as SelectorRegistry);
      ev.push({
        ledgerIndex: e.index,
        type: e.type,
        ...(p.action ? { action: p.action } : {}),
        ok: reason.length > 0,
        reason: reason || 'no reason recorded',
        ...(noop ? { noop: true } : {}),
      });
    } else if (e.type === 'admission') {
      const t = p.promotionTemplate as PromotionTemplate;
      const silent = t.gates.filter((x) => x.status !== 'pending' && !x.detail && !x.evidence).map((x) => x.id);
      ev.push({
        ledgerIndex: e.index,
        type: e.type,
        ok: silent.length === 0,
        reason: silent.length
          ? `gates decided with no detail or evidence: ${silent.join(', ')}`
          : t.gates
              .filter((x) => x.status !== 'pending')
              .map((x) => `${x.id} ${x.status}${x.detail ? `: ${x.detail}` : ''}`)
              .join('; '),
      });
    } else if (e.type === 'fitness-evidence') {
      ev.push({
        ledgerIndex: e.index,
        type: e.type,
        ok: typeof p.detail === 'string' && p.detail.length > 0,
        reason: String(p.detail ?? 'no detail'),
      });
    }
  }
  return result(ev, (bad) => `${ev.length - bad} of ${ev.length} decisions say why`);
}

function verify(g: ExitGarden, entries: readonly LedgerEntry[], ledger: Ledger | null): CriterionResult {
  const ev: Record<string, unknown>[] = [];
  const chain = verifyLedger(g.ledger.records, g.ledger.head);
  ev.push({
    what: 'ledger chain and head',
    ok: chain.ok,
    length: chain.length,
    head: chain.head,
    ...(chain.ok ? {} : { problems: chain.problems.map((p) => p.message) }),
  });
  for (const e of entries) {
    try {
      if (e.type === 'release' || e.type === 'rollback') {
        const h = manifestHash(validateManifest(e.payload.registry, 'selector-registry'));
        ev.push({ what: `entry ${e.index} registry`, ok: h === e.payload.registryHash, hash: h });
      } else if (e.type === 'admission') {
        const rec = validateManifest(e.payload.admission, 'admission-record') as AdmissionRecord;
        const t = validateManifest(e.payload.promotionTemplate, 'promotion-template');
        const ok =
          manifestHash(rec) === e.payload.admissionHash &&
          rec.promotionTemplate === manifestHash(t) &&
          rec.candidate === e.payload.candidate &&
          t.candidate === e.payload.candidate;
        ev.push({ what: `entry ${e.index} admission record and template`, ok, hash: manifestHash(rec) });
      }
    } catch (err) {
      ev.push({ what: `entry ${e.index}`, ok: false, reason: (err as Error).message });
    }
  }
  try {
    if (ledger) {
      const policies = entries.filter((e) => e.type === 'policy-change' || e.type === 're-baseline').length;
      PolicyZone.fromLedger(ledger);
      ev.push({ what: `${policies} policy entries (each policy hashes to its policyHash and links to the one before)`, ok: true });
    }
  } catch (err) {
    ev.push({ what: 'policy entries', ok: false, reason: (err as Error).message });
  }
  for (const a of admissions(entries)) {
    const c = g.candidates.get(a.candidate);
    if (c?.bytes) {
      const h = sha256Hex(c.bytes);
      ev.push({ what: `candidate ${short(a.candidate)}… .slm`, ok: h === a.candidate, hash: h });
    } else {
      ev.push({ what: `candidate ${short(a.candidate)}… .slm`, ok: false, reason: 'the garden does not hold the file' });
    }
    try {
      const { lineage, manifest } = documentsOf(c);
      if (manifest)
        ev.push({
          what: `candidate ${short(a.candidate)}… documents`,
          ok: manifest.candidate === a.candidate && !!lineage && manifest.lineage === manifestHash(lineage),
        });
    } catch (err) {
      ev.push({ what: `candidate ${short(a.candidate)}… documents`, ok: false, reason: (err as Error).message });
    }
  }
  return result(ev, (bad) => `${ev.length - bad} of ${ev.length} hash checks hold`);
}

async function rollback(ledger: Ledger | null): Promise<CriterionResult> {
  if (!ledger) return { ok: false, summary: 'the ledger does not verify, so it cannot be replayed to roll back', evidence: [] };
  // A copy: the user's ledger is never written.
  const copy = await Ledger.open(new MemoryLedgerStore(ledger.records(), ledger.head));
  const release = ReleaseController.open(copy);
  // Which version was live before each registry was activated: its release entry's `from`.
  const previous = new Map<string, string | null>();
  for (const e of ledger.entries())
    if (e.type === 'release') previous.set(String(e.payload.registryHash), (e.payload.from as string | null) ?? null);
  const ev: Record<string, unknown>[] = [];
  for (const slot of release.slots()) {
    const stack: SelectorRegistry[] = [];
    // Roll back until the creation version is live; each step must restore the version that was live before.
    let steps = 0;
    let ok = true;
    let reason = '';
    while (release.canRollback(slot)) {
      const from = release.current(slot);
      stack.push(from);
      const want = previous.get(manifestHash(from)) ?? null;
      const to = await release.rollback(slot, 'exit check: rollback drill on a copy of the ledger');
      steps++;
      if (manifestHash(to) !== want || canonicalJson(release.current(slot)) !== canonicalJson(to)) {
        ok = false;
        reason = `step ${steps}: rolling back version ${from.version} restored ${short(manifestHash(to))}…, not the version before it (${want ? `${short(want)}…` : 'none'})`;
        break;
      }
    }
    const live = release.current(slot);
    const created = release.versions(slot)[0];
    if (ok && manifestHash(live) !== manifestHash(created)) {
      ok = false;
      reason = `after ${steps} rollbacks the live version is ${live.version}, not the creation version ${created.version}`;
    }
    ev.push({
      slot,
      ok,
      steps,
      restored: manifestHash(live),
      createdVersion: created.version,
      versionsUndone: stack.map((r) => r.version),
      ...(reason ? { reason } : {}),
    });
  }
  return result(ev, (bad) => `${ev.length - bad} of ${ev.length} slots roll back to their creation, one version at a time`, ev.length > 0);
}

/** Run the five checks. */
export async function exitCheck(g: ExitGarden): Promise<ExitReport> {
  const entries = g.ledger.records.map((r) => r.entry);
  let ledger: Ledger | null = null;
  try {
    ledger = await Ledger.open(new MemoryLedgerStore(g.ledger.records, g.ledger.head));
  } catch {
    ledger = null;
  }
  let policy: Policy | null = null;
  try {
    policy = ledger ? PolicyZone.fromLedger(ledger) : null;
  } catch {
    policy = null;
  }
  return {
    reproduce: await reproduce(g, entries),
    reject: await reject(g, ledger, policy),
    explain: explain(entries),
    verify: verify(g, entries, ledger),
    rollback: await rollback(ledger),
  };
}

export function exitOk(r: ExitReport): boolean {
  return EXIT_CRITERIA.every((k) => r[k].ok);
}
