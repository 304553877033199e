/**
 * The selector router: routes a request for a task slot through the live registry version.
 * A request goes to the canary when its request-id hash falls under the canary share, else to the
 * champion; on failure (thrown error, non-finite output, contract violation, timeout) it falls to
 * the next model of the stack. The shadow runs beside on every request and never answers; its
 * agreement with the answer is recorded. Three consecutive failures demote a model (a ledgered
 * release step). Model execution is injected: invoke(modelId, input) → Promise<output>.
 */
import { sha256Hex } from '../hash.ts';
import type { SelectorRegistry, SlotContract } from '../manifest/kinds.ts';
import { emptyStats, fitness, promotionCheck, recordOutcome, type ModelStats, type PromotionCheck } from './fitness.ts';
import type { ReleaseController } from './release.ts';
import type { RequestCheck } from './contract.ts';

export type Invoke = (modelId: string, input: Float32Array) => Promise<ArrayLike<number>>;

export const FAILURE_KINDS = Object.freeze(['error', 'non-finite', 'contract', 'timeout'] as const);
export type FailureKind = (typeof FAILURE_KINDS)[number];

export interface Attempt {
  model: string;
  ok: boolean;
  failure?: FailureKind;
  detail?: string;
  ms: number;
}

export interface ShadowRecord {
  requestId: string;
  model: string;
  answeredBy: string | null;
  /** null when the shadow or the stack failed, so nothing could be compared. */
  agreed: boolean | null;
  failure?: FailureKind;
  detail?: string;
}

export interface RouteResult {
  requestId: string;
  /** The answer, from the first model of the stack that succeeded. */
  output: Float32Array;
  answeredBy: string;
  /** True when the request fell in the canary share. */
  canary: boolean;
  attempts: Attempt[];
  /** Settles when the shadow finishes; the answer never waits for it. null when the slot has no shadow. */
  shadow: Promise<ShadowRecord | null>;
  /** Models demoted because of this request (three consecutive failures). */
  demoted: string[];
  /**
   * Demotions this request triggered that failed (e.g. the ledger store refused the write). The
   * answer still stands; the model's failure run is reset, so its next three failures try again.
   */
  demoteErrors: DemoteError[];
}

export interface DemoteError {
  slot: string;
  model: string;
  requestId: string;
  message: string;
}

export class RouteError extends Error {
  override name = 'RouteError';
}

/** Deterministic bucket in [0, 1) for a request: the first 32 bits of SHA-256(slot, request id). */
export function canaryBucket(slot: string, requestId: string): number {
  return parseInt(sha256Hex(new TextEncoder().encode(`${slot}\n${requestId}`)).slice(0, 8), 16) / 2 ** 32;
}

/** The order in which a request tries models. */
export function routeOrder(reg: SelectorRegistry, requestId: string): { order: string[]; canary: boolean } {
  const canary = !!reg.canary && canaryBucket(reg.slot, requestId) < reg.canary.share;
  const order = [...(canary && reg.canary ? [reg.canary.model] : []), ...(reg.champion ? [reg.champion] : []), ...reg.fallback];
  const seen = new Set<string>();
  return { order: order.filter((m) => m !== reg.shadow && !seen.has(m) && !!seen.add(m)), canary };
}

const timers = globalThis as unknown as { setTimeout(cb: () => void, ms: number): unknown; clearTimeout(h: unknown): void };

type Outcome = { ok: true; output: Float32Array; ms: number } | { ok: false; failure: FailureKind; detail: string; ms: number };

/** Run one model on a private copy of the input and check its output against the contract. */
async function attempt(invoke: Invoke, model: string, input: Float32Array, contract: SlotContract, check?: RequestCheck): Promise<Outcome> {
  const t0 = performance.now();
  let handle: unknown;
  const timeout = new Promise<'timeout'>((resolve) => {
    handle = timers.setTimeout(() => resolve('timeout'), contract.timeoutMs);
  });
  try {
    const out = await Promise.race([invoke(model, Float32Array.from(input)), timeout]);
    const ms = performance.now() - t0;
    if (out === 'timeout') return { ok: false, failure: 'timeout', detail: `no answer within ${contract.timeoutMs} ms`, ms };
    if (!out || typeof (out as ArrayLike<number>).length !== 'number')
      return { ok: false, failure: 'contract', detail: 'output is not an array of numbers', ms };
    if (out.length !== contract.outputLength)
      return { ok: false, failure: 'contract', detail: `output has ${out.length} values; the contract says ${contract.outputLength}`, ms };
    const copy = Float32Array.from(out);
    for (let i = 0; i < out.length; i++) {
      if (typeof out[i] !== 'number' || !Number.isFinite(out[i]))
        return { ok: false, failure: 'non-finite', detail: `output[${i}] is ${String(out[i])}`, ms };
    }
    const broken = check?.output(input, copy);
    if (broken) return { ok: false, failure: 'contract', detail: broken, ms };
    return { ok: true, output: copy, ms };
  } catch (e) {
    return { ok: false, failure: 'error', detail: e instanceof Error ? e.message : String(e), ms: performance.now() - t0 };
  } finally {
    timers.clearTimeout(handle);
  }
}

function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

export function outputsAgree(a: ArrayLike<number>, b: ArrayLike<number>, compare: SlotContract['compare']): boolean {
  if (compare === 'argmax') return argmax(a) === argmax(b);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Router stats by slot and model: what `snapshotStats()` gives and `initialStats` takes. */
export type RouterStats = Record<string, Record<string, ModelStats>>;

export interface RouterOptions {
  invoke: Invoke;
  release: ReleaseController;
  /** Keep at most this many shadow records per slot (oldest dropped). */
  shadowLogLimit?: number;
  /**
   * Stats to start from (a snapshotStats() kept by the app). The router holds its stats in memory
   * only; without this they start empty on every load.
   */
  initialStats?: RouterStats;
  /**
   * The slot contracts (contract.ts, requestCheck) checked at every request: an input that breaks
   * `takes`/`before` is refused; an output that breaks `gives`/`after`/`fails when` is a contract
   * failure and the request falls to the next model.
   */
  contracts?: Readonly<Record<string, RequestCheck>>;
}

function checkStats(s: unknown, where: string): ModelStats {
  const o = s as Partial<ModelStats> | null;
  const n = (k: keyof ModelStats) => {
    const v = o?.[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new RouteError(`initial stats ${where}.${k} must be a non-negative integer, got ${JSON.stringify(v ?? null)}`);
    return v;
  };
  const st = {
    invocations: n('invocations'),
    successes: n('successes'),
    failures: n('failures'),
    consecutiveFailures: n('consecutiveFailures'),
  };
  if (st.successes + st.failures !== st.invocations)
    throw new RouteError(`initial stats ${where}: successes ${st.successes} + failures ${st.failures} ≠ invocations ${st.invocations}`);
  if (st.consecutiveFailures > st.failures)
    throw new RouteError(`initial stats ${where}: consecutiveFailures ${st.consecutiveFailures} > failures ${st.failures}`);
  return st;
}

export class SelectorRouter {
  readonly #invoke: Invoke;
  readonly #release: ReleaseController;
  readonly #stats = new Map<string, Map<string, ModelStats>>();
  readonly #shadowLog = new Map<string, ShadowRecord[]>();
  readonly #limit: number;
  readonly #demoteErrors: DemoteError[] = [];
  /** slot\nmodel of demotions in flight: a model is demoted once per run of failures. */
  readonly #pending = new Set<string>();
  readonly #contracts: Readonly<Record<string, RequestCheck>>;

  constructor(opts: RouterOptions) {
    this.#invoke = opts.invoke;
    this.#release = opts.release;
    this.#limit = opts.shadowLogLimit ?? 10_000;
    this.#contracts = opts.contracts ?? {};
    for (const [slot, models] of Object.entries(opts.initialStats ?? {})) {
      const m = new Map<string, ModelStats>();
      for (const [model, st] of Object.entries(models)) m.set(model, checkStats(st, `${slot}.${model}`));
      this.#stats.set(slot, m);
    }
  }

  #statsFor(slot: string, model: string): ModelStats {
    let m = this.#stats.get(slot);
    if (!m) this.#stats.set(slot, (m = new Map()));
    let s = m.get(model);
    if (!s) m.set(model, (s = emptyStats()));
    return s;
  }

  /**
   * Record an outcome; on the third consecutive failure, demote through the release controller
   * (ledgered; the controller serializes it with every other release step). A demotion that fails
   * never fails the request: it is returned (and kept in demoteErrors()), and the run is reset.
   */
  async #record(slot: string, model: string, requestId: string, o: Outcome): Promise<{ demoted: boolean; error?: DemoteError }> {
    const s = this.#statsFor(slot, model);
    const key = `${slot}\n${model}`;
    if (!recordOutcome(s, o.ok) || this.#pending.has(key)) return { demoted: false };
    const detail = o.ok ? '' : `${o.failure}: ${o.detail}`;
    this.#pending.add(key);
    try {
      await this.#release.demote(slot, model, `${s.consecutiveFailures} consecutive failures (last: ${detail})`, {
        stats: { ...s },
        fitness: fitness(s),
      });
      return { demoted: true };
    } catch (e) {
      const error: DemoteError = {
        slot,
        model,
        requestId,
        message: `demoting "${model}" in slot "${slot}" failed: ${e instanceof Error ? e.message : String(e)}`,
      };
      this.#demoteErrors.push(error);
      if (this.#demoteErrors.length > this.#limit) this.#demoteErrors.splice(0, this.#demoteErrors.length - this.#limit);
      return { demoted: false, error };
    } finally {
      s.consecutiveFailures = 0;
      this.#pending.delete(key);
    }
  }

  async route(slot: string, requestId: string, input: Float32Array): Promise<RouteResult> {
    const reg = this.#release.current(slot);
    const { contract } = reg;
    if (!(input instanceof Float32Array)) throw new RouteError(`slot "${slot}": input must be a Float32Array`);
    if (input.length !== contract.inputLength)
      throw new RouteError(`slot "${slot}": input has ${input.length} values; the contract says ${contract.inputLength}`);
    const frozenInput = Float32Array.from(input);
    const check = Object.prototype.hasOwnProperty.call(this.#contracts, slot) ? this.#contracts[slot] : undefined;
    const refused = check?.input(frozenInput);
    if (refused) throw new RouteError(`slot "${slot}": request ${requestId} breaks the slot contract: ${refused}`);
    const { order, canary } = routeOrder(reg, requestId);
    if (!order.length) throw new RouteError(`slot "${slot}" has no champion, canary or fallback to answer`);

    let shadowRun: Promise<Outcome> | null = null;
    if (reg.shadow) shadowRun = attempt(this.#invoke, reg.shadow, frozenInput, contract, check);

    const attempts: Attempt[] = [];
    const demoted: string[] = [];
    const demoteErrors: DemoteError[] = [];
    let answer: { model: string; output: Float32Array } | null = null;
    for (const model of order) {
      const o = await attempt(this.#invoke, model, frozenInput, contract, check);
      attempts.push(o.ok ? { model, ok: true, ms: o.ms } : { model, ok: false, failure: o.failure, detail: o.detail, ms: o.ms });
      const r = await this.#record(slot, model, requestId, o);
      if (r.demoted) demoted.push(model);
      if (r.error) demoteErrors.push(r.error);
      if (o.ok) {
        answer = { model, output: o.output };
        break;
      }
    }

    const shadowModel = reg.shadow;
    const shadow: Promise<ShadowRecord | null> =
      shadowRun && shadowModel
        ? shadowRun.then(async (o) => {
            const rec: ShadowRecord = o.ok
              ? {
                  requestId,
                  model: shadowModel,
                  answeredBy: answer?.model ?? null,
                  agreed: answer ? outputsAgree(o.output, answer.output, contract.compare) : null,
                }
              : { requestId, model: shadowModel, answeredBy: answer?.model ?? null, agreed: null, failure: o.failure, detail: o.detail };
            await this.#record(slot, shadowModel, requestId, o);
            const log = this.#shadowLog.get(slot) ?? [];
            log.push(rec);
            if (log.length > this.#limit) log.splice(0, log.length - this.#limit);
            this.#shadowLog.set(slot, log);
            return rec;
          })
        : Promise.resolve(null);

    if (!answer) {
      void shadow.catch(() => undefined);
      throw new RouteError(
        `slot "${slot}": every model failed for request ${requestId}: ${attempts.map((a) => `${a.model} (${a.failure}: ${a.detail})`).join('; ')}`,
      );
    }
    return { requestId, output: answer.output, answeredBy: answer.model, canary, attempts, shadow, demoted, demoteErrors };
  }

  /** Demotions that failed, oldest first (each also returned in its request's RouteResult). */
  demoteErrors(): readonly DemoteError[] {
    return [...this.#demoteErrors];
  }

  /** Every slot's per-model stats (plain copies), to keep across reloads: pass back as `initialStats`. */
  snapshotStats(): RouterStats {
    const out: RouterStats = {};
    for (const [slot, m] of this.#stats) out[slot] = Object.fromEntries([...m].map(([model, s]) => [model, { ...s }]));
    return out;
  }

  /** Per-model stats for a slot (copies). */
  stats(slot: string): Record<string, ModelStats & { fitness: number }> {
    const out: Record<string, ModelStats & { fitness: number }> = {};
    for (const [m, s] of this.#stats.get(slot) ?? []) out[m] = { ...s, fitness: fitness(s) };
    return out;
  }

  /** Shadow agreement records for a slot, oldest first. */
  shadowLog(slot: string): readonly ShadowRecord[] {
    return [...(this.#shadowLog.get(slot) ?? [])];
  }

  /** Summary of shadow agreement: compared requests and the disagreement rate. */
  shadowSummary(slot: string): { model: string | null; compared: number; disagreed: number; failed: number; disagreement: number } {
    const log = this.shadowLog(slot);
    const compared = log.filter((r) => r.agreed !== null).length;
    const disagreed = log.filter((r) => r.agreed === false).length;
    return {
      model: log[log.length - 1]?.model ?? null,
      compared,
      disagreed,
      failed: log.length - compared,
      disagreement: compared ? disagreed / compared : 0,
    };
  }

  /** Would `challenger` be promoted over the slot's champion by the fitness rule? */
  promotionCheck(slot: string, challenger: string): PromotionCheck {
    const reg = this.#release.current(slot);
    const c = this.#statsFor(slot, challenger);
    return promotionCheck({ ...c }, reg.champion ? { ...this.#statsFor(slot, reg.champion) } : null);
  }
}
