/**
 * Blast radius: what is at stake in a slot decides the release path its candidates must walk.
 * Each slot has a class (the `risk` of its contract): none, low, medium, high or critical, and
 * each class requires its stages before a model becomes champion:
 *
 *   none     — nothing: a model may be made champion directly;
 *   low      — canary (straight to canary; no shadow needed);
 *   medium   — shadow, then canary;
 *   high     — shadow, canary and an explicit `approval` entry for the champion step;
 *   critical — as high, plus the resilience window: a passed resilience check recorded at least
 *              `resilienceWindowMs` after the canary started.
 *
 * GuardedRelease wraps the release controller: toCanary and toChampion read the ledger for the
 * model's stages since it was last admitted and refuse a shortcut, naming what is missing; they
 * also refuse a model whose promotion is paused on a code-change proposal (proposal.ts).
 * Re-expressing a recessive allele (alleles.ts) is not a new release and walks no stages.
 */
import type { LedgerEntry, SelectorRegistry } from '../manifest/kinds.ts';
import type { RiskClass } from './contract.ts';
import type { PromotionCheck } from './fitness.ts';
import type { Ledger } from './ledger.ts';
import type { ReleaseController } from './release.ts';
import { promotionPaused } from './proposal.ts';

export const BLAST_STAGES = Object.freeze(['shadow', 'canary', 'approval', 'resilience'] as const);
export type BlastStage = (typeof BLAST_STAGES)[number];

/** The stages each class requires before champion, in order. */
export const REQUIRED_STAGES: Readonly<Record<RiskClass, readonly BlastStage[]>> = Object.freeze({
  none: Object.freeze([]),
  low: Object.freeze(['canary'] as const),
  medium: Object.freeze(['shadow', 'canary'] as const),
  high: Object.freeze(['shadow', 'canary', 'approval'] as const),
  critical: Object.freeze(['shadow', 'canary', 'approval', 'resilience'] as const),
});

export class BlastRadiusError extends Error {
  override name = 'BlastRadiusError';
}

/** The payload of an `approval` ledger entry (from the policy zone). */
export interface ApprovalPayload {
  slot: string;
  model: string;
  /** What is approved: a champion step, or a code-change proposal (proposal.ts) by its hash. */
  for: 'champion' | 'proposal';
  proposal?: string;
  by: string;
  reason: string;
}

/** Record an explicit approval in the ledger. */
export function approve(ledger: Ledger, a: ApprovalPayload): Promise<LedgerEntry> {
  if (!a.by.trim() || !a.reason.trim()) throw new BlastRadiusError('an approval names who approves and why');
  return ledger.append('approval', { ...a });
}

export interface StageRecord {
  shadow: LedgerEntry | null;
  canary: LedgerEntry | null;
  approval: LedgerEntry | null;
  resilience: LedgerEntry | null;
}

/**
 * The stages a model has walked in a slot since it was last put in shadow or canary from outside
 * (a model demoted out of the slot starts again): the entries that show each stage.
 */
export function stagesWalked(entries: readonly LedgerEntry[], slot: string, model: string): StageRecord {
  const r: StageRecord = { shadow: null, canary: null, approval: null, resilience: null };
  for (const e of entries) {
    const p = e.payload;
    if (p.slot !== slot) continue;
    if (e.type === 'release') {
      const reg = p.registry as SelectorRegistry;
      const holds = reg.champion === model || reg.shadow === model || reg.canary?.model === model || reg.fallback.includes(model);
      if (!holds) Object.assign(r, { shadow: null, canary: null, approval: null, resilience: null });
      else if (p.action === 'shadow' && reg.shadow === model) r.shadow ??= e;
      else if (p.action === 'canary' && reg.canary?.model === model) r.canary ??= e;
    } else if (e.type === 'approval' && p.model === model && p.for === 'champion') {
      r.approval = e;
    } else if (e.type === 'fitness-evidence' && p.model === model && p.kind === 'resilience' && p.passed === true) {
      r.resilience = e;
    }
  }
  return r;
}

export interface ShortcutVerdict {
  allowed: boolean;
  required: readonly BlastStage[];
  missing: BlastStage[];
  reasons: string[];
}

/** May `model` take the `target` step in a slot of class `cls`? Each missing stage comes with why. */
export function checkStages(
  entries: readonly LedgerEntry[],
  slot: string,
  model: string,
  cls: RiskClass,
  target: 'canary' | 'champion',
  resilienceWindowMs: number,
): ShortcutVerdict {
  const required = REQUIRED_STAGES[cls];
  const walked = stagesWalked(entries, slot, model);
  const before = target === 'canary' ? required.filter((s) => s === 'shadow') : required;
  const missing: BlastStage[] = [];
  const reasons: string[] = [];
  for (const s of before) {
    if (s === 'resilience') {
      const c = walked.canary;
      const r = walked.resilience;
      const waited = c && r ? Date.parse(r.at) - Date.parse(c.at) : null;
      if (waited === null || waited < resilienceWindowMs) {
        missing.push(s);
        reasons.push(
          !r
            ? `no passed resilience check for "${model}"`
            : !c
              ? `"${model}" never ran as canary`
              : `the resilience check came ${Math.round(waited! / 1000)} s after the canary started; the window is ${Math.round(resilienceWindowMs / 1000)} s`,
        );
      }
    } else if (!walked[s]) {
      missing.push(s);
      reasons.push(s === 'approval' ? `no approval entry for "${model}" as champion` : `"${model}" has not been in ${s}`);
    }
  }
  return { allowed: missing.length === 0, required, missing, reasons };
}

export interface BlastRadiusPolicy {
  classOf(slot: string): RiskClass;
  /** For critical slots: how long after the canary starts the resilience check must come. */
  resilienceWindowMs: number;
}

/** The release controller behind the blast-radius policy: a shortcut is refused, nothing is written. */
export class GuardedRelease {
  readonly #ledger: Ledger;
  readonly #release: ReleaseController;
  readonly #policy: BlastRadiusPolicy;

  constructor(ledger: Ledger, release: ReleaseController, policy: BlastRadiusPolicy) {
    this.#ledger = ledger;
    this.#release = release;
    this.#policy = policy;
  }

  #guard(slot: string, model: string, target: 'canary' | 'champion'): void {
    const paused = promotionPaused(this.#ledger.entries(), model);
    if (paused.paused)
      throw new BlastRadiusError(
        `"${model}" cannot go to ${target} in slot "${slot}": its promotion is paused: ${paused.reasons.join('; ')}`,
      );
    const cls = this.#policy.classOf(slot);
    const v = checkStages(this.#ledger.entries(), slot, model, cls, target, this.#policy.resilienceWindowMs);
    if (!v.allowed)
      throw new BlastRadiusError(
        `slot "${slot}" is ${cls} blast radius (needs ${v.required.join(' → ') || 'no stage'} before champion): "${model}" cannot go to ${target}: ${v.reasons.join('; ')}`,
      );
  }

  async toShadow(slot: string, model: string, reason: string, evidence?: Record<string, unknown>): Promise<SelectorRegistry> {
    return this.#release.toShadow(slot, model, reason, evidence);
  }

  async toCanary(
    slot: string,
    share: number,
    reason: string,
    model?: string,
    evidence?: Record<string, unknown>,
  ): Promise<SelectorRegistry> {
    const m = model ?? this.#release.current(slot).shadow;
    if (m) this.#guard(slot, m, 'canary');
    return this.#release.toCanary(slot, share, reason, model, evidence);
  }

  async toChampion(slot: string, check: PromotionCheck, reason: string, model?: string): Promise<SelectorRegistry> {
    const m = model ?? this.#release.current(slot).canary?.model;
    if (m) this.#guard(slot, m, 'champion');
    return this.#release.toChampion(slot, check, reason, model);
  }
}
