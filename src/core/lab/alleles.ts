/**
 * The allele lifecycle of a task slot. Every model that has been the slot's champion, or passed its
 * canary, is an allele in one of four states:
 *   dominant   — the champion (expressed);
 *   recessive  — a former champion or a passed canary, kept with its fitness history and the reason
 *                it was displaced; it can be re-expressed without new breeding;
 *   deprecated — a recessive that was not expressed and earned no fitness for a policy period; it
 *                leaves the fallback stack;
 *   purged     — a deprecated allele whose tensors are garbage-collected, except those another model
 *                still holds.
 * The states are read from the ledger alone (readAlleles): champion changes from `release` and
 * `rollback` entries, the rest from `allele` entries, fitness from `fitness-evidence` entries.
 * AlleleLifecycle writes those entries. Automatic demotion after three consecutive failures
 * (contract failures included) is the router's (router.ts); the demoted champion becomes recessive
 * here with the router's reason.
 */
import type { LedgerEntry, SelectorRegistry } from '../manifest/kinds.ts';
import type { Ledger } from './ledger.ts';
import type { PromotionCheck } from './fitness.ts';
import { ReleaseError, type ReleaseController } from './release.ts';
import {
  DEFAULT_TEMPORAL_RULES,
  checkEvidence,
  evidenceOf,
  temporalFitness,
  type FitnessEvidence,
  type TemporalRules,
} from './temporal-fitness.ts';

export const ALLELE_STATES = Object.freeze(['dominant', 'recessive', 'deprecated', 'purged'] as const);
export type AlleleState = (typeof ALLELE_STATES)[number];

export interface FitnessPoint {
  /** Ledger index of the entry that recorded it. */
  index: number;
  at: string;
  /** `release`: the fitness a release entry's evidence recorded; `temporal`: temporal fitness after a fitness-evidence entry. */
  source: 'release' | 'temporal';
  fitness: number;
  detail: string;
}

export interface Allele {
  slot: string;
  model: string;
  state: AlleleState;
  /** Ledger index of the entry that put it in this state. */
  since: number;
  /** Why it is in this state (for a recessive: why it was displaced). */
  reason: string;
  /** The model that displaced it, when one did. */
  displacedBy: string | null;
  history: FitnessPoint[];
  /** Time of the last entry that expressed it or gave it fitness. */
  lastActiveAt: string;
  /** Its temporal fitness now (temporal-fitness.ts). */
  fitness: number;
}

export class AlleleError extends Error {
  override name = 'AlleleError';
}

/** The payload of an `allele` ledger entry. */
export interface AllelePayload {
  slot: string;
  model: string;
  from: AlleleState | null;
  to: Exclude<AlleleState, 'dominant'>;
  reason: string;
  /** purged only: tensor hashes deleted, and those kept because another model holds them. */
  deleted?: string[];
  kept?: string[];
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** Replay the ledger: every slot's alleles, in the order they first appeared. */
export function readAlleles(entries: readonly LedgerEntry[], rules: TemporalRules = DEFAULT_TEMPORAL_RULES): Map<string, Allele[]> {
  const slots = new Map<string, Map<string, Allele>>();
  const champion = new Map<string, string | null>();
  const evidence = new Map<string, FitnessEvidence[]>();
  const points = new Map<string, FitnessPoint[]>();
  const get = (slot: string, model: string, e: LedgerEntry): Allele => {
    let m = slots.get(slot);
    if (!m) slots.set(slot, (m = new Map()));
    let a = m.get(model);
    if (!a)
      m.set(
        model,
        (a = {
          slot,
          model,
          state: 'recessive',
          since: e.index,
          reason: '',
          displacedBy: null,
          history: [],
          lastActiveAt: e.at,
          fitness: 0,
        }),
      );
    return a;
  };
  const set = (a: Allele, state: AlleleState, e: LedgerEntry, reason: string, displacedBy: string | null = null) => {
    Object.assign(a, { state, since: e.index, reason, displacedBy, lastActiveAt: e.at });
  };

  for (const e of entries) {
    const p = e.payload;
    const slot = String(p.slot);
    if (e.type === 'release' || e.type === 'rollback') {
      const reg = p.registry as SelectorRegistry;
      const before = champion.get(slot) ?? null;
      const after = reg.champion;
      champion.set(slot, after);
      const ev = (p.evidence ?? {}) as Record<string, unknown>;
      const reason = String(p.reason ?? '');
      if (before && before !== after) {
        const a = get(slot, before, e);
        const f = num(ev.championFitness) ?? (p.action === 'demote' ? num(ev.fitness) : null);
        if (f !== null)
          a.history.push({
            index: e.index,
            at: e.at,
            source: 'release',
            fitness: f,
            detail: `fitness when ${p.action === 'demote' ? 'demoted' : 'displaced'}`,
          });
        const why =
          e.type === 'rollback'
            ? `rolled back: ${reason}`
            : p.action === 'demote'
              ? `demoted: ${reason}`
              : `displaced by ${after}: ${reason}`;
        set(a, 'recessive', e, why, after);
      }
      if (after && before !== after) {
        const a = get(slot, after, e);
        const f = num(ev.challengerFitness);
        if (f !== null && p.action === 'champion')
          a.history.push({
            index: e.index,
            at: e.at,
            source: 'release',
            fitness: f,
            detail: `fitness when promoted on ${String(ev.basis)}`,
          });
        set(
          a,
          'dominant',
          e,
          ev.basis === 'recessive' ? `re-expressed: ${reason}` : e.type === 'rollback' ? `rolled back to: ${reason}` : reason,
        );
      } else if (after) {
        get(slot, after, e).lastActiveAt = e.at;
      }
    } else if (e.type === 'allele') {
      const q = p as unknown as AllelePayload;
      set(get(slot, q.model, e), q.to, e, q.reason);
    } else if (e.type === 'fitness-evidence') {
      const q = p as unknown as FitnessEvidence;
      const key = `${slot}\n${q.model}`;
      const list = evidence.get(key) ?? [];
      list.push(q);
      evidence.set(key, list);
      const pts = points.get(key) ?? [];
      pts.push({
        index: e.index,
        at: e.at,
        source: 'temporal',
        fitness: temporalFitness(list, rules).fitness,
        detail: `${q.kind} ${q.passed ? 'passed' : 'failed'}: ${q.detail}`,
      });
      points.set(key, pts);
      const known = slots.get(slot)?.get(q.model);
      if (known) known.lastActiveAt = e.at;
    }
  }
  const out = new Map<string, Allele[]>();
  for (const [slot, m] of slots) {
    out.set(
      slot,
      [...m.values()].map((a) => {
        const key = `${slot}\n${a.model}`;
        const history = [...a.history, ...(points.get(key) ?? [])].sort((x, y) => x.index - y.index);
        return { ...a, history, fitness: temporalFitness(evidence.get(key) ?? [], rules).fitness };
      }),
    );
  }
  return out;
}

export interface LifecycleOptions {
  ledger: Ledger;
  release: ReleaseController;
  /** Temporal fitness rules per slot (default DEFAULT_TEMPORAL_RULES). */
  rules?: (slot: string) => TemporalRules;
}

export interface EvidenceOutcome {
  fitness: number;
  /** What the evidence set off for a dominant allele below the threshold. */
  action: 'none' | 'reexpressed' | 'demoted';
  /** The model expressed in its place, when it was displaced. */
  replacement: string | null;
  entry: LedgerEntry;
}

/** Writes the lifecycle: recessive canaries, re-expression, deprecation, purge, and temporal evidence. */
export class AlleleLifecycle {
  readonly #ledger: Ledger;
  readonly #release: ReleaseController;
  readonly #rules: (slot: string) => TemporalRules;

  constructor(opts: LifecycleOptions) {
    this.#ledger = opts.ledger;
    this.#release = opts.release;
    this.#rules = opts.rules ?? (() => DEFAULT_TEMPORAL_RULES);
  }

  /** A slot's alleles as the ledger has them now. */
  alleles(slot: string): Allele[] {
    return readAlleles(this.#ledger.entries(), this.#rules(slot)).get(slot) ?? [];
  }

  allele(slot: string, model: string): Allele | null {
    return this.alleles(slot).find((a) => a.model === model) ?? null;
  }

  dominant(slot: string): Allele | null {
    return this.alleles(slot).find((a) => a.state === 'dominant') ?? null;
  }

  async #transition(
    slot: string,
    model: string,
    to: AllelePayload['to'],
    reason: string,
    extra: Partial<AllelePayload> = {},
  ): Promise<LedgerEntry> {
    const from = this.allele(slot, model)?.state ?? null;
    const payload: AllelePayload = { slot, model, from, to, reason, ...extra };
    return this.#ledger.append('allele', { ...payload });
  }

  /**
   * A canary that passed but is not made champion is kept as a recessive allele: its canary ends
   * (a `demote` release step, which takes it out of the slot), it goes to the bottom of the
   * fallback stack, and an `allele` entry records why.
   */
  async keepPassedCanary(slot: string, model: string, reason: string): Promise<LedgerEntry> {
    const reg = this.#release.current(slot);
    const a = this.allele(slot, model);
    if (a && a.state !== 'purged' && a.state !== 'deprecated') throw new AlleleError(`"${model}" is already ${a.state} in slot "${slot}"`);
    if (reg.canary?.model !== model) throw new AlleleError(`"${model}" is not the canary of slot "${slot}"`);
    await this.#release.demote(slot, model, `canary of "${model}" ended: passed, kept as a recessive allele`);
    await this.#release.setFallback(slot, [...this.#release.current(slot).fallback, model], `"${model}" kept as a recessive fallback`);
    return this.#transition(slot, model, 'recessive', `passed canary: ${reason}`);
  }

  /**
   * Re-express a recessive allele: it becomes champion again without new breeding (a `release`
   * entry on the `recessive` basis, its history the evidence); the champion it replaces becomes
   * recessive. Only a recessive allele can be re-expressed.
   */
  async reexpress(slot: string, model: string, reason: string): Promise<SelectorRegistry> {
    const a = this.allele(slot, model);
    if (!a)
      throw new AlleleError(`"${model}" is no allele of slot "${slot}"; only a former champion or a passed canary can be re-expressed`);
    if (a.state !== 'recessive')
      throw new AlleleError(`"${model}" is ${a.state} in slot "${slot}"; only a recessive allele can be re-expressed`);
    const dom = this.dominant(slot);
    const last = [...a.history].reverse().find((h) => h.source === 'release')?.fitness ?? a.fitness;
    const check: PromotionCheck = {
      basis: 'recessive',
      eligible: true,
      challengerFitness: a.fitness,
      championFitness: dom ? dom.fitness : null,
      lead: a.fitness - (dom?.fitness ?? 0),
      reason: `re-expression of recessive "${model}" (recessive since entry ${a.since}: ${a.reason}; temporal fitness ${a.fitness.toFixed(4)}, last recorded at a release ${last.toFixed(4)})`,
    };
    return this.#release.toChampion(slot, check, reason, model);
  }

  /**
   * Deprecate every recessive allele of the slot that was not expressed and earned no fitness for
   * `periodMs` before `now`: an `allele` entry each, and they leave the fallback stack.
   */
  async deprecateIdle(slot: string, now: string, periodMs: number): Promise<string[]> {
    const t = Date.parse(now);
    const idle = this.alleles(slot).filter((a) => a.state === 'recessive' && t - Date.parse(a.lastActiveAt) >= periodMs);
    for (const a of idle)
      await this.#transition(
        slot,
        a.model,
        'deprecated',
        `not expressed and no fitness for ${Math.round((t - Date.parse(a.lastActiveAt)) / 1000)} s (the period is ${Math.round(periodMs / 1000)} s)`,
      );
    if (idle.length) {
      const reg = this.#release.current(slot);
      const gone = new Set(idle.map((a) => a.model));
      if (reg.fallback.some((m) => gone.has(m)))
        await this.#release.setFallback(
          slot,
          reg.fallback.filter((m) => !gone.has(m)),
          `deprecated: ${[...gone].join(', ')}`,
        );
    }
    return idle.map((a) => a.model);
  }

  /**
   * Purge a deprecated allele: its tensors are deleted except those another model (any entry of
   * `tensors` not itself purged) still holds. `tensors` maps each model to its tensor hashes. The
   * caller deletes `deleted` from storage; the entry records both lists.
   */
  async purge(
    slot: string,
    model: string,
    tensors: Readonly<Record<string, readonly string[]>>,
  ): Promise<{ deleted: string[]; kept: string[] }> {
    const a = this.allele(slot, model);
    if (!a || a.state !== 'deprecated')
      throw new AlleleError(`"${model}" is ${a ? a.state : 'no allele'} in slot "${slot}"; only a deprecated allele can be purged`);
    const own = tensors[model];
    if (!own) throw new AlleleError(`no tensor list for "${model}"`);
    const reg = this.#release.current(slot);
    const roles = [reg.champion, reg.canary?.model, reg.shadow, ...reg.fallback];
    if (roles.includes(model)) throw new AlleleError(`"${model}" still holds a role in slot "${slot}"`);
    const purged = new Set(
      this.alleles(slot)
        .filter((x) => x.state === 'purged')
        .map((x) => x.model),
    );
    const shared = new Set<string>();
    for (const [m, hs] of Object.entries(tensors)) if (m !== model && !purged.has(m)) for (const h of hs) shared.add(h);
    const deleted = [...new Set(own)].filter((h) => !shared.has(h)).sort();
    const kept = [...new Set(own)].filter((h) => shared.has(h)).sort();
    await this.#transition(slot, model, 'purged', `${deleted.length} tensors deleted, ${kept.length} kept (shared with another model)`, {
      deleted,
      kept,
    });
    return { deleted, kept };
  }

  /**
   * Record one piece of temporal evidence (a `fitness-evidence` entry with the fitness before and
   * after). When it is a failed check that leaves the dominant allele below the slot's
   * `demoteBelow`, the recessive allele
   * with the highest fitness at or above the threshold is re-expressed in its place; with none, the
   * champion is demoted down the fallback stack.
   */
  async recordEvidence(ev: FitnessEvidence): Promise<EvidenceOutcome> {
    checkEvidence(ev);
    const rules = this.#rules(ev.slot);
    const prior = evidenceOf(this.#ledger.entries(), ev.slot, ev.model);
    const before = temporalFitness(prior, rules).fitness;
    const after = temporalFitness([...prior, ev], rules).fitness;
    const entry = await this.#ledger.append('fitness-evidence', {
      ...ev,
      fitnessBefore: before,
      fitnessAfter: after,
      weights: { ...rules.weights },
      decay: rules.decay,
    });
    const reg = this.#release.current(ev.slot);
    // Only a failed check displaces: fitness is earned kind by kind, so a new champion with only its immediate evidence is not failing.
    if (reg.champion !== ev.model || ev.passed || after >= rules.demoteBelow)
      return { fitness: after, action: 'none', replacement: null, entry };
    const why = `temporal fitness of "${ev.model}" fell from ${before.toFixed(4)} to ${after.toFixed(4)}, below ${rules.demoteBelow}, after ${ev.kind} evidence (${ev.detail})`;
    const best = this.alleles(ev.slot)
      .filter((a) => a.state === 'recessive' && a.model !== ev.model && a.fitness >= rules.demoteBelow)
      .sort((x, y) => y.fitness - x.fitness || x.model.localeCompare(y.model))[0];
    if (best) {
      await this.reexpress(ev.slot, best.model, why);
      return { fitness: after, action: 'reexpressed', replacement: best.model, entry };
    }
    try {
      const r = await this.#release.demote(ev.slot, ev.model, why, { fitness: after, evidence: entry.index });
      return { fitness: after, action: 'demoted', replacement: r.champion, entry };
    } catch (e) {
      if (e instanceof ReleaseError) throw new AlleleError(`${why}; demotion failed: ${e.message}`);
      throw e;
    }
  }
}
