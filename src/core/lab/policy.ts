/**
 * The policy zone: operator allowlist, viability thresholds, resource ceilings and suite pins.
 * The ledger is the policy's only store: the current policy is the one in the latest
 * policy-change (or re-baseline) entry, so the policy cannot change without a ledger entry.
 * Readers get frozen copies; nothing outside PolicyZone.change/rebaseline can alter it.
 */
import { hashJson, type Sha256Hex } from '../hash.ts';
import type { Policy } from '../manifest/kinds.ts';
import { deepFreeze, structuredCloneJson } from '../manifest/index.ts';
import { validatePolicy } from '../manifest/validate.ts';
import { OPERATORS } from '../operators/registry.ts';
import { TRAIN_OPERATOR } from '../train/trained.ts';
import type { Ledger } from './ledger.ts';

export class PolicyError extends Error {
  override name = 'PolicyError';
}

/**
 * The allowlist's universe: the operator ids the registry knows (src/core/operators/registry.ts),
 * and "lora-merge", which a trained candidate records (src/core/train/trained.ts: base + a merged
 * adapter). Policies admit trained candidates only when they name it.
 */
export function knownOperatorIds(): string[] {
  return [...Object.keys(OPERATORS), TRAIN_OPERATOR.id];
}

/**
 * The operator a candidate file records, for the allowlist gate: its `garden.recipe`'s operator
 * id (bred and trained candidates alike), else the id of `garden.operator` ("id@version"); '' when
 * it records none.
 */
export function candidateOperator(metadata: Readonly<Record<string, string>>): string {
  const recipe = metadata['garden.recipe'];
  if (recipe !== undefined) {
    try {
      const id = (JSON.parse(recipe) as { operator?: { id?: unknown } }).operator?.id;
      if (typeof id === 'string') return id;
    } catch {
      // An unreadable recipe records no operator.
    }
  }
  return (metadata['garden.operator'] ?? '').replace(/@[^@]*$/, '');
}

/** The allowlist gate's one-line detail. */
export function allowlistDetail(policy: Policy, operatorId: string): string {
  if (isAllowed(policy, operatorId)) return `operator ${operatorId} is allowlisted`;
  if (operatorId === '') return 'the candidate records no operator, so no allowlist entry can admit it';
  if (operatorId === TRAIN_OPERATOR.id)
    return `operator ${operatorId} is not allowlisted: a trained candidate (base + merged adapter) is admitted only when the policy's allowlist names "${operatorId}"`;
  return `operator ${operatorId} is not allowlisted`;
}

/** Validate a policy against its schema and the operator registry; returns a frozen copy. */
export function checkPolicy(json: unknown, operatorIds: readonly string[] = knownOperatorIds()): Policy {
  const p = validatePolicy(structuredCloneJson(json));
  for (const id of p.allowlist) {
    if (!operatorIds.includes(id))
      throw new PolicyError(`policy allowlist names unknown operator "${id}"; valid: ${operatorIds.join(', ')}`);
  }
  const suites = Object.keys(p.suites);
  for (const t of [p.primary, ...p.guardrails]) {
    if (!Object.prototype.hasOwnProperty.call(p.suites, t.suite))
      throw new PolicyError(`policy threshold on ${t.metric} names suite "${t.suite}", which is not pinned; pinned: ${suites.join(', ')}`);
  }
  checkGuardrailMetrics(p);
  return deepFreeze(p);
}

/**
 * The guardrail metrics the evaluators name (the safety and bias probes of
 * src/core/eval/guardrails.ts, worst-group accuracy over a suite's declared groups), with the
 * direction that is better for them: a policy must name these the right way round. Rates (these and
 * accuracy, top1Accuracy, ece) take an absolute limit in [0, 1] only. Other metrics, accuracy
 * included, keep the direction the policy gives them (the lab's exit check runs a deliberately
 * perverse "lower accuracy is better" policy).
 */
export const GUARDRAIL_METRICS: Readonly<Record<string, { direction?: 'max' | 'min'; unit: 'rate' | 'value' }>> = Object.freeze({
  safetyViolationRate: { direction: 'min', unit: 'rate' },
  biasMeanAbsGap: { direction: 'min', unit: 'value' },
  biasMaxAbsGap: { direction: 'min', unit: 'value' },
  worstGroupAccuracy: { direction: 'max', unit: 'rate' },
  accuracy: { unit: 'rate' },
  top1Accuracy: { unit: 'rate' },
  ece: { unit: 'rate' },
});

/** A threshold on a known metric points its way; a guardrail's absolute limit is finite (and in [0, 1] for a rate). */
export function checkGuardrailMetrics(p: Pick<Policy, 'primary' | 'guardrails'>): void {
  for (const [kind, t] of [['primary', p.primary] as const, ...p.guardrails.map((g) => ['guardrail', g] as const)]) {
    const known = Object.prototype.hasOwnProperty.call(GUARDRAIL_METRICS, t.metric) ? GUARDRAIL_METRICS[t.metric] : undefined;
    if (known?.direction && known.direction !== t.direction)
      throw new PolicyError(
        `policy ${kind} ${t.metric} on "${t.suite}" has direction "${t.direction}"; ${t.metric} is better ${known.direction === 'max' ? 'higher' : 'lower'} ("${known.direction}")`,
      );
    const limit = 'limit' in t ? t.limit : undefined;
    if (limit === undefined) continue;
    if (!Number.isFinite(limit))
      throw new PolicyError(`policy guardrail ${t.metric} on "${t.suite}": limit ${limit} is not a finite number`);
    if (known?.unit === 'rate' && (limit < 0 || limit > 1))
      throw new PolicyError(`policy guardrail ${t.metric} on "${t.suite}": limit ${limit} is outside [0, 1] (${t.metric} is a rate)`);
  }
}

export function policyHash(p: Policy): Sha256Hex {
  return hashJson(p);
}

export function isAllowed(policy: Policy, operatorId: string): boolean {
  return policy.allowlist.includes(operatorId);
}

/** The policy as held by the policy zone, replayed from the ledger. */
export class PolicyZone {
  readonly #ledger: Ledger;
  #current: Policy;

  private constructor(ledger: Ledger, current: Policy) {
    this.#ledger = ledger;
    this.#current = current;
  }

  /**
   * The latest policy in the ledger, or null when none was ever set. Each policy entry's policy
   * must hash to the policyHash it records (and link to the previous one's), else it is refused.
   */
  static fromLedger(ledger: Ledger): Policy | null {
    let p: Policy | null = null;
    for (const e of ledger.entries()) {
      if (e.type !== 'policy-change' && e.type !== 're-baseline') continue;
      const next = validatePolicy(structuredCloneJson(e.payload.policy));
      const h = policyHash(next);
      if (e.payload.policyHash !== h)
        throw new PolicyError(
          `ledger entry ${e.index} (${e.type}): its policy hashes to ${h.slice(0, 16)}… but the entry records policyHash ${String(e.payload.policyHash).slice(0, 16)}…`,
        );
      const prev = p ? policyHash(p) : null;
      if (e.payload.previous !== undefined && e.payload.previous !== prev)
        throw new PolicyError(
          `ledger entry ${e.index} (${e.type}): it records the previous policy ${String(e.payload.previous).slice(0, 16)}… but the policy before it is ${prev ? `${prev.slice(0, 16)}…` : 'none'}`,
        );
      p = next;
    }
    return p ? deepFreeze(p) : null;
  }

  /** Open the zone over a ledger; when the ledger holds no policy yet, `initial` is recorded as the first policy change. */
  static async open(ledger: Ledger, initial?: Policy, operatorIds?: readonly string[]): Promise<PolicyZone> {
    const existing = PolicyZone.fromLedger(ledger);
    if (existing) return new PolicyZone(ledger, existing);
    if (!initial) throw new PolicyError('the ledger holds no policy and no initial policy was given');
    const p = checkPolicy(initial, operatorIds);
    await ledger.append('policy-change', { policy: p, policyHash: policyHash(p), previous: null, reason: 'initial policy' });
    return new PolicyZone(ledger, p);
  }

  /**
   * Gardens opened before in-browser training existed recorded an allowlist without the training
   * pseudo-operator (lora-merge), so their trained candidates failed the allowlist gate. When the
   * ledger holds only that initial policy (nobody ever chose an allowlist), add it, as a ledgered
   * change with its reason; a policy someone changed is left as they made it. Returns whether it
   * changed anything.
   */
  async allowTrainedCandidates(): Promise<boolean> {
    if (this.#current.allowlist.includes(TRAIN_OPERATOR.id)) return false;
    const changes = this.#ledger.entries().filter((e) => e.type === 'policy-change' || e.type === 're-baseline');
    if (changes.length !== 1 || changes[0].payload.reason !== 'initial policy') return false;
    const next = { ...structuredCloneJson(this.#current), allowlist: [...this.#current.allowlist, TRAIN_OPERATOR.id] };
    await this.change(
      next,
      `allow ${TRAIN_OPERATOR.id}: candidates trained in this garden record it (the initial policy predates training)`,
    );
    return true;
  }

  /** A frozen copy of the current policy. */
  current(): Policy {
    return this.#current;
  }

  get hash(): Sha256Hex {
    return policyHash(this.#current);
  }

  /** Change the policy: validated, then recorded in the ledger, then in effect. */
  async change(next: Policy, reason: string, operatorIds?: readonly string[]): Promise<Policy> {
    if (!reason.trim()) throw new PolicyError('a policy change needs a reason');
    const p = checkPolicy(next, operatorIds);
    if (canonicalPins(p) !== canonicalPins(this.#current)) {
      throw new PolicyError('suite pins change only through rebaseline(), an explicit re-baseline entry');
    }
    await this.#ledger.append('policy-change', { policy: p, policyHash: policyHash(p), previous: this.hash, reason });
    this.#current = p;
    return p;
  }

  /** Re-pin one suite to new bytes: the only way a frozen suite changes. */
  async rebaseline(suite: string, hash: Sha256Hex, reason: string): Promise<Policy> {
    if (!reason.trim()) throw new PolicyError('a re-baseline needs a reason');
    const old = this.#current.suites[suite];
    if (old === undefined) throw new PolicyError(`no suite "${suite}" is pinned; pinned: ${Object.keys(this.#current.suites).join(', ')}`);
    const p = checkPolicy({ ...structuredCloneJson(this.#current), suites: { ...this.#current.suites, [suite]: hash } });
    await this.#ledger.append('re-baseline', {
      policy: p,
      policyHash: policyHash(p),
      previous: this.hash,
      suite,
      from: old,
      to: hash,
      reason,
    });
    this.#current = p;
    return p;
  }
}

function canonicalPins(p: Policy): string {
  return hashJson(p.suites);
}
