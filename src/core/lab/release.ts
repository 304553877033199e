/**
 * The release zone: per task slot, the selector registry (champion, canary share, shadow,
 * fallback stack) and its release controller. Every step is a ledger entry carrying the full
 * registry version it activates, so every version is kept and the registry is replayed from the
 * ledger alone. Rollback re-activates the previous version, byte for byte.
 */
import type { SelectorRegistry, SelectorRegistryBody, SlotContract } from '../manifest/kinds.ts';
import { makeManifest, manifestHash } from '../manifest/index.ts';
import { validateManifest } from '../manifest/validate.ts';
import type { Ledger, LedgerDraft } from './ledger.ts';
import { PROMOTION_BASES, type PromotionCheck } from './fitness.ts';

/** The release stages a model moves through, in order. */
export const RELEASE_STAGES = Object.freeze(['shadow', 'canary', 'champion'] as const);
export type ReleaseStage = (typeof RELEASE_STAGES)[number];

/** What a release ledger entry did. */
export const RELEASE_ACTIONS = Object.freeze(['create', 'shadow', 'canary', 'champion', 'demote', 'fallback'] as const);
export type ReleaseAction = (typeof RELEASE_ACTIONS)[number];

export class ReleaseError extends Error {
  override name = 'ReleaseError';
}

interface SlotState {
  /** Every version ever created, in creation order. */
  versions: SelectorRegistry[];
  /** Activation stack: the top is live; rollback pops. */
  active: SelectorRegistry[];
}

export class ReleaseController {
  readonly #ledger: Ledger;
  readonly #slots = new Map<string, SlotState>();
  /**
   * Every release step (read the live version, build the next, append, activate) runs through this
   * one queue, so overlapping calls — the router's automatic demote and a user's click — each build
   * on the version the previous one left, never on the same base.
   */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  /** Replay every release and rollback entry of the ledger. */
  static open(ledger: Ledger): ReleaseController {
    const rc = new ReleaseController(ledger);
    for (const e of ledger.entries()) {
      if (e.type !== 'release' && e.type !== 'rollback') continue;
      const slot = String(e.payload.slot);
      const reg = validateManifest(e.payload.registry, 'selector-registry');
      if (manifestHash(reg) !== e.payload.registryHash)
        throw new ReleaseError(`ledger entry ${e.index}: registry does not hash to its recorded registryHash`);
      const st = rc.#slot(slot, true);
      if (e.type === 'release') {
        st.versions.push(reg);
        st.active.push(reg);
      } else {
        st.active.pop();
        const top = st.active[st.active.length - 1];
        if (!top || manifestHash(top) !== e.payload.registryHash)
          throw new ReleaseError(`ledger entry ${e.index}: rollback restores a registry that was not the previous version`);
      }
    }
    return rc;
  }

  #slot(slot: string, create = false): SlotState {
    let st = this.#slots.get(slot);
    if (!st) {
      if (!create) throw new ReleaseError(`no task slot "${slot}"; slots: ${[...this.#slots.keys()].join(', ') || '(none)'}`);
      st = { versions: [], active: [] };
      this.#slots.set(slot, st);
    }
    return st;
  }

  slots(): string[] {
    return [...this.#slots.keys()];
  }

  /** The live registry version of a slot (frozen). */
  current(slot: string): SelectorRegistry {
    const st = this.#slot(slot);
    return st.active[st.active.length - 1];
  }

  /** True when the slot's active stack has a previous version to roll back to (false for an unknown slot). */
  canRollback(slot: string): boolean {
    const st = this.#slots.get(slot);
    return !!st && st.active.length >= 2;
  }

  /** Run one release step after every step already queued; a failed step does not block the next. */
  #serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Every version of a slot ever created, oldest first. */
  versions(slot: string): readonly SelectorRegistry[] {
    return [...this.#slot(slot).versions];
  }

  async #activate(
    slot: string,
    action: ReleaseAction,
    next: Omit<SelectorRegistryBody, 'version' | 'slot'>,
    reason: string,
    evidence?: Record<string, unknown>,
    preceding: readonly LedgerDraft[] = [],
  ): Promise<SelectorRegistry> {
    const st = this.#slot(slot, action === 'create');
    const prev = st.active[st.active.length - 1] ?? null;
    const version = st.versions.reduce((m, v) => Math.max(m, v.version), 0) + 1;
    const { contract, champion, canary, shadow, fallback } = next;
    const rest = { contract, champion, canary, shadow, fallback };
    const reg = makeManifest('selector-registry', { ...rest, slot, version, note: reason });
    const roles = [reg.champion, reg.canary?.model, reg.shadow].filter((x): x is string => !!x);
    if (new Set(roles).size !== roles.length)
      throw new ReleaseError(`slot "${slot}": one model cannot hold two of champion, canary and shadow (${roles.join(', ')})`);
    const payload = {
      slot,
      action,
      registry: reg,
      registryHash: manifestHash(reg),
      from: prev ? manifestHash(prev) : null,
      reason,
      ...(evidence ? { evidence } : {}),
    };
    await this.#ledger.appendAll([...preceding, { type: 'release', payload }]);
    st.versions.push(reg);
    st.active.push(reg);
    return reg;
  }

  /** Create a task slot with its contract, champion and fallback stack. */
  createSlot(
    slot: string,
    contract: SlotContract,
    champion: string | null,
    fallback: string[] = [],
    reason = 'slot created',
  ): Promise<SelectorRegistry> {
    return this.#serial(async () => {
      if (this.#slots.has(slot)) throw new ReleaseError(`task slot "${slot}" already exists`);
      return this.#activate(
        slot,
        'create',
        { contract, champion, canary: null, shadow: null, fallback: fallback.filter((m) => m !== champion) },
        reason,
      );
    });
  }

  /**
   * Put a model in shadow: it runs beside the champion on routed requests and never answers.
   * `before`, when given, runs inside the same queued step after the checks pass and returns the
   * entries written just before the release entry, in the same store write (admitToShadow's
   * admission entry): all of them are stored, or none.
   */
  toShadow(
    slot: string,
    model: string,
    reason: string,
    evidence?: Record<string, unknown>,
    before?: (current: SelectorRegistry) => Promise<LedgerDraft[]>,
  ): Promise<SelectorRegistry> {
    return this.#serial(async () => {
      const cur = this.current(slot);
      if (cur.champion === model) throw new ReleaseError(`"${model}" is already the champion of slot "${slot}"`);
      const preceding = before ? await before(cur) : [];
      return this.#activate(
        slot,
        'shadow',
        { ...cur, shadow: model, canary: cur.canary?.model === model ? null : cur.canary },
        reason,
        evidence,
        preceding,
      );
    });
  }

  /** Give a share of requests (0 < share ≤ 1, chosen by request-id hash) to a canary; default: the shadow. */
  toCanary(slot: string, share: number, reason: string, model?: string, evidence?: Record<string, unknown>): Promise<SelectorRegistry> {
    return this.#serial(async () => {
      const cur = this.current(slot);
      const m = model ?? cur.shadow;
      if (!m) throw new ReleaseError(`slot "${slot}" has no shadow to promote to canary; name a model`);
      if (!(share > 0 && share <= 1)) throw new ReleaseError(`canary share ${share} is outside (0, 1]`);
      if (cur.champion === m) throw new ReleaseError(`"${m}" is already the champion of slot "${slot}"`);
      return this.#activate(
        slot,
        'canary',
        { ...cur, canary: { model: m, share }, shadow: cur.shadow === m ? null : cur.shadow },
        reason,
        evidence,
      );
    });
  }

  /**
   * Make the canary (or a named model) champion. Needs an eligible promotion check on one of the
   * two bases (PROMOTION_BASES): `fitness` (promotionCheck: a lead of 0.1 over ≥ 50 invocations) or
   * `evidence` (evidencePromotionCheck: a viable verdict and a clean routed record). The check,
   * with its basis, is the ledger entry's evidence; the old champion becomes the first fallback.
   */
  toChampion(slot: string, check: PromotionCheck, reason: string, model?: string): Promise<SelectorRegistry> {
    return this.#serial(async () => {
      const cur = this.current(slot);
      const m = model ?? cur.canary?.model;
      if (!m) throw new ReleaseError(`slot "${slot}" has no canary to promote; name a model`);
      if (!(PROMOTION_BASES as readonly string[]).includes(check.basis))
        throw new ReleaseError(
          `promotion check basis ${JSON.stringify(check.basis ?? null)} is unknown; valid: ${PROMOTION_BASES.join(', ')}`,
        );
      if (!check.eligible) throw new ReleaseError(`"${m}" cannot become champion of "${slot}" on ${check.basis}: ${check.reason}`);
      const fallback = [...(cur.champion ? [cur.champion] : []), ...cur.fallback].filter((x) => x !== m);
      return this.#activate(
        slot,
        'champion',
        {
          ...cur,
          champion: m,
          canary: cur.canary?.model === m ? null : cur.canary,
          shadow: cur.shadow === m ? null : cur.shadow,
          fallback: [...new Set(fallback)],
        },
        reason,
        { ...check, basis: check.basis },
      );
    });
  }

  /** Demote a model: it loses its role and goes to the bottom of the fallback stack; the next in the stack becomes champion. */
  demote(slot: string, model: string, reason: string, evidence?: Record<string, unknown>): Promise<SelectorRegistry> {
    return this.#serial(async () => {
      const cur = this.current(slot);
      const inSlot = cur.champion === model || cur.canary?.model === model || cur.shadow === model || cur.fallback.includes(model);
      if (!inSlot) throw new ReleaseError(`"${model}" is not in slot "${slot}"`);
      let { champion, fallback } = cur;
      fallback = fallback.filter((x) => x !== model);
      if (champion === model) champion = fallback.shift() ?? null;
      // A demoted shadow or canary leaves the slot; a demoted champion or fallback stays as the last resort.
      const keep = cur.champion === model || cur.fallback.includes(model);
      return this.#activate(
        slot,
        'demote',
        {
          ...cur,
          champion,
          canary: cur.canary?.model === model ? null : cur.canary,
          shadow: cur.shadow === model ? null : cur.shadow,
          fallback: keep ? [...fallback, model] : fallback,
        },
        reason,
        evidence,
      );
    });
  }

  /** Replace the fallback stack. */
  setFallback(slot: string, fallback: string[], reason: string): Promise<SelectorRegistry> {
    return this.#serial(async () => {
      const cur = this.current(slot);
      return this.#activate(slot, 'fallback', { ...cur, fallback: [...new Set(fallback)].filter((m) => m !== cur.champion) }, reason);
    });
  }

  /** Re-activate the previous registry version exactly (byte for byte); recorded as a rollback entry. */
  rollback(slot: string, reason: string): Promise<SelectorRegistry> {
    return this.#serial(async () => {
      const st = this.#slot(slot);
      if (st.active.length < 2) throw new ReleaseError(`slot "${slot}" has no previous registry version to roll back to`);
      const from = st.active[st.active.length - 1];
      const to = st.active[st.active.length - 2];
      await this.#ledger.append('rollback', { slot, registry: to, registryHash: manifestHash(to), from: manifestHash(from), reason });
      st.active.pop();
      return to;
    });
  }
}
