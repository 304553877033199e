/**
 * LoRA adapters as first-class artifacts, in PEFT's terms (peft/tuners/lora/layer.py):
 *   y = base(x) + lora_B(lora_A(dropout(x))) · scaling,  scaling = lora_alpha / r
 *   (lora_alpha / √r with use_rslora), lora_A.weight [r, in], lora_B.weight [out, r];
 * A starts Kaiming-uniform (a = √5, so bound 1/√in, as nn.Linear), B starts at zero, so a fresh
 * adapter changes nothing. `modules_to_save` are whole tensors trained in place of the base's (a
 * new classifier head). An adapter names the species of its base and refuses any other.
 *
 * Weight layouts: Hugging Face's nn.Linear stores [out, in] (ΔW = s·B·A); the garden's MLP stores
 * [in, out] for a plain MatMul graph, which is PEFT's fan_in_fan_out (ΔW = (s·B·A)ᵀ).
 */
import { mulberry32 } from '../seeded.ts';
import { tensorKey } from '../operators/prng.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';
import type { Sha256Hex } from '../hash.ts';

/** How a base tensor holds a linear layer: [in, out] (garden MLP, fan_in_fan_out) or [out, in] (nn.Linear). */
export const LAYOUTS = Object.freeze(['in-out', 'out-in'] as const);
export type Layout = (typeof LAYOUTS)[number];

/** One linear layer of a species that LoRA may target. */
export interface LinearSite {
  /** PEFT's module name, e.g. "fc1" or "model.layers.0.self_attn.q_proj". */
  module: string;
  weight: string;
  bias?: string;
  inFeatures: number;
  outFeatures: number;
  layout: Layout;
}

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  /** Module names or suffixes (PEFT's list form: a module matches t if it is t or ends with "." + t). */
  targetModules: string[];
  /** Whole tensors trained and saved in place of the base's (PEFT's modules_to_save, by module). */
  modulesToSave: string[];
  useRslora: boolean;
  fanInFanOut: boolean;
  /** PEFT's base_model_name_or_path: here, the base file's name. */
  baseModel: string;
  taskType: string | null;
}

export interface LoraPair {
  site: LinearSite;
  r: number;
  /** [r, in] */
  a: Float32Array;
  /** [out, r] */
  b: Float32Array;
}

export interface Adapter {
  config: LoraConfig;
  /** By module name, in the species' order. */
  lora: Map<string, LoraPair>;
  /** modules_to_save tensors, by the base tensor name they replace (garden layout). */
  saved: Map<string, Tensor>;
  /** The species the adapter was trained on; undefined for an imported PEFT adapter not yet bound. */
  species?: Sha256Hex;
}

export function loraScaling(c: Pick<LoraConfig, 'alpha' | 'r' | 'useRslora'>, r = c.r): number {
  return c.useRslora ? c.alpha / Math.sqrt(r) : c.alpha / r;
}

export function matchesTarget(module: string, targets: readonly string[]): boolean {
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/** The sites an adapter config targets; refuses targets that match nothing (PEFT raises too). */
export function targetSites(sites: readonly LinearSite[], targets: readonly string[]): LinearSite[] {
  const chosen = sites.filter((s) => matchesTarget(s.module, targets));
  for (const t of targets) {
    if (!sites.some((s) => matchesTarget(s.module, [t])))
      throw new Error(`target module "${t}" matches no linear layer; valid: ${sites.map((s) => s.module).join(', ')}`);
  }
  return chosen;
}

export function checkLoraConfig(c: LoraConfig): void {
  if (!Number.isInteger(c.r) || c.r < 1) throw new Error(`LoRA rank r must be a positive integer, got ${c.r}`);
  if (!(c.alpha > 0)) throw new Error(`lora_alpha must be positive, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`lora_dropout must be in [0, 1), got ${c.dropout}`);
  if (c.targetModules.length === 0 && c.modulesToSave.length === 0) throw new Error('an adapter needs target_modules or modules_to_save');
}

/** A fresh adapter: A Kaiming-uniform from the seed (one stream per module), B zero, saved modules copied from the base. */
export function initAdapter(
  config: LoraConfig,
  sites: readonly LinearSite[],
  base: ReadonlyMap<string, Tensor>,
  seed: number,
  species?: Sha256Hex,
): Adapter {
  checkLoraConfig(config);
  const lora = new Map<string, LoraPair>();
  for (const site of targetSites(sites, config.targetModules)) {
    if (config.modulesToSave.includes(site.module)) continue;
    const rand = mulberry32(tensorKey(seed, `${site.module}.lora_A`));
    const bound = 1 / Math.sqrt(site.inFeatures);
    const a = new Float32Array(config.r * site.inFeatures);
    for (let i = 0; i < a.length; i++) a[i] = (rand() * 2 - 1) * bound;
    lora.set(site.module, { site, r: config.r, a, b: new Float32Array(site.outFeatures * config.r) });
  }
  const saved = savedTensors(sites, config.modulesToSave, base);
  return { config, lora, saved, species };
}

/** Copies (F32) of the weight and bias of each module in `modules`: modules_to_save. */
export function savedTensors(
  sites: readonly LinearSite[],
  modules: readonly string[],
  from: ReadonlyMap<string, Tensor>,
): Map<string, Tensor> {
  const saved = new Map<string, Tensor>();
  for (const m of modules) {
    const site = sites.find((s) => s.module === m);
    if (!site) throw new Error(`modules_to_save "${m}" is not a linear layer; valid: ${sites.map((s) => s.module).join(', ')}`);
    for (const name of [site.weight, site.bias]) {
      if (!name) continue;
      const t = from.get(name);
      if (!t) throw new Error(`the model has no tensor "${name}"`);
      saved.set(name, fromFloat32(name, [...t.shape], Float32Array.from(toFloat32(t))));
    }
  }
  return saved;
}

/** s·B·A as [out, in], in doubles. */
export function loraDeltaOutIn(p: LoraPair, scaling: number): Float64Array {
  const { inFeatures: I, outFeatures: O } = p.site;
  const d = new Float64Array(O * I);
  for (let o = 0; o < O; o++) {
    for (let k = 0; k < p.r; k++) {
      const bv = p.b[o * p.r + k] * scaling;
      if (bv === 0) continue;
      const ak = k * I;
      for (let i = 0; i < I; i++) d[o * I + i] += bv * p.a[ak + i];
    }
  }
  return d;
}

/** ΔW in the base tensor's own layout. */
export function loraDeltaInLayout(p: LoraPair, scaling: number): Float32Array {
  const d = loraDeltaOutIn(p, scaling);
  const { inFeatures: I, outFeatures: O } = p.site;
  if (p.site.layout === 'out-in') return Float32Array.from(d);
  const t = new Float32Array(I * O);
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) t[i * O + o] = d[o * I + i];
  return t;
}

/**
 * Merge into the base: W + ΔW (in W's layout) for every LoRA module, saved modules replace theirs.
 * Every other tensor is passed through untouched (same bytes). The sum runs in f32 per element.
 */
export function mergeAdapter(base: readonly Tensor[], adapter: Adapter): Tensor[] {
  const byWeight = new Map([...adapter.lora.values()].map((p) => [p.site.weight, p]));
  const out = base.map((t) => {
    const saved = adapter.saved.get(t.name);
    if (saved) {
      if (saved.shape.join() !== t.shape.join())
        throw new Error(`modules_to_save "${t.name}" has shape [${saved.shape}], the base [${t.shape}]`);
      return fromFloat32(t.name, [...t.shape], toFloat32(saved), t.dtype);
    }
    const p = byWeight.get(t.name);
    if (!p) return t;
    const w = Float32Array.from(toFloat32(t));
    const d = loraDeltaInLayout(p, loraScaling(adapter.config, p.r));
    if (d.length !== w.length)
      throw new Error(
        `LoRA for "${p.site.module}" is ${p.site.outFeatures}×${p.site.inFeatures}, the base tensor has ${w.length} elements`,
      );
    for (let i = 0; i < w.length; i++) w[i] += d[i];
    return fromFloat32(t.name, [...t.shape], w, t.dtype);
  });
  for (const name of byWeight.keys())
    if (!base.some((t) => t.name === name)) throw new Error(`the base has no tensor "${name}" for its LoRA`);
  return out;
}
