/**
 * Extract a LoRA from a fine-tune, as mergekit-extract-lora does: for every targeted linear layer
 * whose weight changed, the truncated SVD of ΔW = W_fine − W_base ([out, in]) at rank
 * min(max_rank, min(out, in)) (singular values ≤ sv_epsilon dropped), split as mergekit's
 * distribute_scale: lora_A = √S·Vᵀ, lora_B = U·√S, lora_alpha = r (scaling 1). Modules of a
 * smaller rank are padded with zero rows and columns to r, which changes no product and keeps the
 * adapter PEFT-loadable without a rank_pattern. The report gives, per module, the relative
 * Frobenius error ‖ΔW − B·A‖_F / ‖ΔW‖_F the truncation leaves, and lists every other tensor that
 * changed and is not carried (biases, unless the module is saved whole).
 */
import { toFloat32, type Tensor } from '../tensor.ts';
import { savedTensors, type Adapter, type LinearSite, type LoraConfig } from './lora.ts';
import { svd, truncationError } from './svd.ts';

export interface ExtractOptions {
  maxRank: number;
  /** Modules (by name) to extract; default: every linear layer of the species. */
  targetModules?: string[];
  /** Modules saved at full rank instead (mergekit's --save-module). */
  modulesToSave?: string[];
  svEpsilon?: number;
  baseModel?: string;
}

export interface ModuleReport {
  module: string;
  rank: number;
  /** ‖ΔW‖_F */
  deltaNorm: number;
  relativeError: number;
}

export interface ExtractReport {
  modules: ModuleReport[];
  /** Over all extracted modules: √(Σ residual²) / √(Σ ‖ΔW‖²). */
  relativeError: number;
  notCarried: string[];
}

export function extractLora(
  base: readonly Tensor[],
  fine: readonly Tensor[],
  sites: readonly LinearSite[],
  opts: ExtractOptions,
): { adapter: Adapter; report: ExtractReport } {
  if (!Number.isInteger(opts.maxRank) || opts.maxRank < 1) throw new Error(`--max-rank must be a positive integer, got ${opts.maxRank}`);
  const b = new Map(base.map((t) => [t.name, t]));
  const f = new Map(fine.map((t) => [t.name, t]));
  for (const t of base) {
    const o = f.get(t.name);
    if (!o) throw new Error(`the fine-tune has no tensor "${t.name}"`);
    if (o.shape.join() !== t.shape.join()) throw new Error(`"${t.name}" is [${o.shape}] in the fine-tune, [${t.shape}] in the base`);
  }
  const save = opts.modulesToSave ?? [];
  const chosen = sites.filter((s) => (opts.targetModules ?? sites.map((x) => x.module)).includes(s.module) && !save.includes(s.module));
  const eps = opts.svEpsilon ?? 0;
  const factors = chosen.flatMap((site) => {
    const w0 = toFloat32(b.get(site.weight)!);
    const w1 = toFloat32(f.get(site.weight)!);
    const { inFeatures: I, outFeatures: O } = site;
    const d = new Float64Array(O * I);
    let changed = false;
    for (let o = 0; o < O; o++) {
      for (let i = 0; i < I; i++) {
        const at = site.layout === 'out-in' ? o * I + i : i * O + o;
        d[o * I + i] = w1[at] - w0[at];
        if (d[o * I + i] !== 0) changed = true;
      }
    }
    if (!changed) return [];
    const s = svd(d, O, I);
    let rank = Math.min(opts.maxRank, s.k);
    if (eps > 0) rank = Math.min(rank, s.s.filter((x) => x > eps).length);
    rank = Math.max(rank, 1);
    return [{ site, s, rank }];
  });
  const r = Math.max(1, ...factors.map((x) => x.rank));
  const config: LoraConfig = {
    r,
    alpha: r,
    dropout: 0,
    targetModules: factors.map((x) => x.site.module),
    modulesToSave: save,
    useRslora: false,
    fanInFanOut: sites.some((s) => s.layout === 'in-out'),
    baseModel: opts.baseModel ?? '',
    taskType: null,
  };
  const adapter: Adapter = { config, lora: new Map(), saved: savedTensors(sites, save, f) };
  const modules: ModuleReport[] = [];
  let residual = 0;
  let total = 0;
  for (const { site, s, rank } of factors) {
    const { inFeatures: I, outFeatures: O } = site;
    const a = new Float32Array(r * I);
    const bb = new Float32Array(O * r);
    for (let c = 0; c < rank; c++) {
      const root = Math.sqrt(s.s[c]);
      for (let i = 0; i < I; i++) a[c * I + i] = root * s.vt[c * I + i];
      for (let o = 0; o < O; o++) bb[o * r + c] = s.u[o * s.k + c] * root;
    }
    adapter.lora.set(site.module, { site, r, a, b: bb });
    let norm2 = 0;
    for (const x of s.s) norm2 += x * x;
    const err = truncationError(s.s, rank);
    residual += err * err * norm2;
    total += norm2;
    modules.push({ module: site.module, rank, deltaNorm: Math.sqrt(norm2), relativeError: err });
  }
  const carried = new Set([...factors.map((x) => x.site.weight), ...[...adapter.saved.keys()]]);
  const notCarried = base.filter((t) => !carried.has(t.name) && !sameBytes(t, f.get(t.name)!)).map((t) => t.name);
  return { adapter, report: { modules, relativeError: total > 0 ? Math.sqrt(residual / total) : 0, notCarried } };
}

function sameBytes(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}
