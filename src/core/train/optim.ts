/**
 * AdamW with decoupled weight decay, in torch.optim.AdamW's order of operations:
 *   θ ← θ·(1 − lr·λ);  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
 *   θ ← θ − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
 * and the learning-rate schedules of transformers' get_*_schedule_with_warmup (linear warm-up
 * from 0, then constant, linear or cosine decay), evaluated at optimizer step t = 0, 1, ….
 */
import type { Buf } from './tape.ts';

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: Omit<AdamWConfig, 'lr'> = Object.freeze({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });

export interface Param {
  name: string;
  data: Buf;
  /** False for biases and norms (transformers' Trainer decays neither). */
  decay: boolean;
}

/** AdamW's moments per parameter and the steps taken: what another engine needs to carry a run on. */
export interface AdamWState {
  steps: number;
  m: ArrayLike<number>[];
  v: ArrayLike<number>[];
}

export class AdamW {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private t = 0;

  /** `state` takes over a run's moments and step count (another engine's, say the GPU's). */
  constructor(
    readonly params: readonly Param[],
    readonly cfg: Omit<AdamWConfig, 'lr'> = ADAMW_DEFAULTS,
    state?: AdamWState,
  ) {
    this.m = params.map((p) => new Float64Array(p.data.length));
    this.v = params.map((p) => new Float64Array(p.data.length));
    if (state) {
      if (state.m.length !== params.length || state.v.length !== params.length)
        throw new Error(`AdamW state for ${state.m.length} tensors, the optimizer has ${params.length}`);
      params.forEach((p, i) => {
        if (state.m[i].length !== p.data.length || state.v[i].length !== p.data.length)
          throw new Error(`AdamW state of "${p.name}" has ${state.m[i].length} values for ${p.data.length}`);
        this.m[i].set(state.m[i]);
        this.v[i].set(state.v[i]);
      });
      this.t = state.steps;
    }
  }

  get steps(): number {
    return this.t;
  }

  /** A copy of the moments and step count (AdamWState), to carry the run on elsewhere. */
  state(): AdamWState {
    return { steps: this.t, m: this.m.map((m) => m.slice()), v: this.v.map((v) => v.slice()) };
  }

  /** One update with grads[i] for params[i] at learning rate lr. */
  step(grads: readonly (Buf | null)[], lr: number): void {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.cfg;
    this.t++;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    this.params.forEach((p, k) => {
      const g = grads[k];
      if (!g) return;
      const m = this.m[k];
      const v = this.v[k];
      const w = p.data;
      const decay = p.decay ? 1 - lr * wd : 1;
      for (let i = 0; i < w.length; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        w[i] = w[i] * decay - (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
      }
    });
  }
}

export const SCHEDULES = Object.freeze(['constant', 'linear', 'cosine'] as const);
export type ScheduleKind = (typeof SCHEDULES)[number];

export interface Schedule {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** The learning rate at optimizer step t (0-based), transformers' lr_lambda × lr. */
export function learningRate(s: Schedule, t: number): number {
  if (!SCHEDULES.includes(s.kind)) throw new Error(`unknown schedule "${String(s.kind)}"; valid: ${SCHEDULES.join(', ')}`);
  if (t < s.warmupSteps) return (s.lr * t) / Math.max(1, s.warmupSteps);
  if (s.kind === 'constant') return s.lr;
  const progress = (t - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
  if (s.kind === 'linear') return s.lr * Math.max(0, 1 - progress);
  return s.lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
