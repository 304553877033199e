/**
 * PEFT's on-disk LoRA format, both ways (peft/utils/save_and_load.py, peft/tuners/lora/config.py):
 *   adapter_config.json        the LoraConfig fields (peft_type "LORA", r, lora_alpha, …)
 *   adapter_model.safetensors  base_model.model.<module>.lora_A.weight [r, in],
 *                              base_model.model.<module>.lora_B.weight [out, r],
 *                              base_model.model.<tensor> for modules_to_save (the adapter name,
 *                              "default", is removed from every key on save, as PEFT does).
 * The garden binds an adapter to its base in the safetensors __metadata__ ("garden.species"),
 * which PEFT ignores; PEFT's own metadata key "format": "pt" is written too.
 */
import { parseSafetensors, serializeSafetensors } from '../format/safetensors.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';
import { checkLoraConfig, type Adapter, type LinearSite, type LoraConfig, type LoraPair } from './lora.ts';

export const PEFT_PREFIX = 'base_model.model.';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const GARDEN_SPECIES_KEY = 'garden.species';

export interface PeftFiles {
  config: string;
  weights: Uint8Array;
}

/** adapter_config.json as PEFT's LoraConfig.to_dict() writes it (the fields a plain LoRA uses). */
export function peftConfigJson(c: LoraConfig): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: c.baseModel,
    bias: 'none',
    fan_in_fan_out: c.fanInFanOut,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    modules_to_save: c.modulesToSave.length ? [...c.modulesToSave] : null,
    peft_type: 'LORA',
    r: c.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...c.targetModules],
    task_type: c.taskType,
    use_dora: false,
    use_rslora: c.useRslora,
  };
}

export function exportPeft(adapter: Adapter): PeftFiles {
  const tensors: Tensor[] = [];
  for (const [module, p] of adapter.lora) {
    tensors.push(fromFloat32(`${PEFT_PREFIX}${module}.lora_A.weight`, [p.r, p.site.inFeatures], p.a));
    tensors.push(fromFloat32(`${PEFT_PREFIX}${module}.lora_B.weight`, [p.site.outFeatures, p.r], p.b));
  }
  for (const [name, t] of adapter.saved) tensors.push({ ...t, name: `${PEFT_PREFIX}${name}` });
  const metadata: Record<string, string> = { format: 'pt' };
  if (adapter.species) metadata[GARDEN_SPECIES_KEY] = adapter.species;
  return { config: `${JSON.stringify(peftConfigJson(adapter.config), null, 2)}\n`, weights: serializeSafetensors(tensors, metadata) };
}

export class PeftError extends Error {
  override name = 'PeftError';
}

function field<T>(o: Record<string, unknown>, key: string, check: (v: unknown) => v is T, what: string, fallback?: T): T {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (!check(v)) throw new PeftError(`${ADAPTER_CONFIG}: "${key}" must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isEmptyObj = (v: unknown): v is Record<string, never> =>
  v === null || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);

/** Parse adapter_config.json; refuses what this garden does not apply (DoRA, per-module rank or alpha, LoRA biases). */
export function parsePeftConfig(text: string): LoraConfig {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new PeftError(`${ADAPTER_CONFIG} is not JSON: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new PeftError(`${ADAPTER_CONFIG} must be a JSON object`);
  const c = o as Record<string, unknown>;
  if (c.peft_type !== 'LORA')
    throw new PeftError(`${ADAPTER_CONFIG}: peft_type is ${JSON.stringify(c.peft_type)}; only "LORA" adapters are read`);
  if (c.use_dora === true) throw new PeftError(`${ADAPTER_CONFIG}: use_dora is true; DoRA adapters are not applied by the garden`);
  for (const k of ['rank_pattern', 'alpha_pattern']) {
    if (c[k] !== undefined && !isEmptyObj(c[k]))
      throw new PeftError(`${ADAPTER_CONFIG}: "${k}" is not empty; per-module ranks and alphas are not applied by the garden`);
  }
  if (c.bias !== undefined && c.bias !== 'none')
    throw new PeftError(`${ADAPTER_CONFIG}: bias is ${JSON.stringify(c.bias)}; only "none" is applied`);
  if (c.lora_bias === true) throw new PeftError(`${ADAPTER_CONFIG}: lora_bias is true; LoRA biases are not applied`);
  if (typeof c.target_modules === 'string')
    throw new PeftError(`${ADAPTER_CONFIG}: target_modules is a regular expression; the garden reads the list form`);
  const config: LoraConfig = {
    r: field(c, 'r', isNum, 'a number'),
    alpha: field(c, 'lora_alpha', isNum, 'a number'),
    dropout: field(c, 'lora_dropout', isNum, 'a number', 0),
    targetModules: field(c, 'target_modules', isStrList, 'a list of module names', []),
    modulesToSave: c.modules_to_save === null ? [] : field(c, 'modules_to_save', isStrList, 'a list of module names or null', []),
    useRslora: field(c, 'use_rslora', isBool, 'true or false', false),
    fanInFanOut: field(c, 'fan_in_fan_out', isBool, 'true or false', false),
    baseModel: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : '',
    taskType: typeof c.task_type === 'string' ? c.task_type : null,
  };
  try {
    checkLoraConfig(config);
  } catch (e) {
    throw new PeftError(`${ADAPTER_CONFIG}: ${(e as Error).message}`);
  }
  return config;
}

/**
 * Read a PEFT adapter against the linear layers of a base species. Every tensor must be a LoRA
 * pair of a known module with shapes [r, in] and [out, r], or a modules_to_save tensor the base
 * has with the same shape; anything else is refused by name.
 */
export function importPeft(files: PeftFiles, sites: readonly LinearSite[], base: ReadonlyMap<string, Tensor>): Adapter {
  const config = parsePeftConfig(files.config);
  const { metadata, tensors } = parseSafetensors(files.weights);
  const byModule = new Map(sites.map((s) => [s.module, s]));
  const halves = new Map<string, { a?: Tensor; b?: Tensor }>();
  const saved = new Map<string, Tensor>();
  for (const t of tensors) {
    if (!t.name.startsWith(PEFT_PREFIX)) throw new PeftError(`${ADAPTER_WEIGHTS}: tensor "${t.name}" does not start with "${PEFT_PREFIX}"`);
    const key = t.name.slice(PEFT_PREFIX.length);
    const m = /^(.*)\.lora_([AB])\.weight$/.exec(key);
    if (m) {
      if (!byModule.has(m[1]))
        throw new PeftError(
          `${ADAPTER_WEIGHTS}: "${t.name}" targets module "${m[1]}", which is not a linear layer of the base; valid: ${[...byModule.keys()].join(', ')}`,
        );
      const h = halves.get(m[1]) ?? {};
      h[m[2] === 'A' ? 'a' : 'b'] = t;
      halves.set(m[1], h);
      continue;
    }
    // PEFT saves the base weight of a targeted embedding-like layer (lm_head) as
    // "<module>.base_layer.weight" (save_embedding_layers); a copy of the base's adds nothing.
    const layer = /^(.*)\.base_layer\.weight$/.exec(key);
    const site = layer && byModule.get(layer[1]);
    if (site) {
      const w = base.get(site.weight);
      const copy = toFloat32(t);
      const same = w && w.shape.join() === t.shape.join() && toFloat32(w).every((x, i) => x === copy[i]);
      if (!same)
        throw new PeftError(
          `${ADAPTER_WEIGHTS}: "${t.name}" replaces the base's "${site.weight}"; the garden applies LoRA over the base as it is`,
        );
      continue;
    }
    const b = base.get(key);
    if (!b) throw new PeftError(`${ADAPTER_WEIGHTS}: "${t.name}" is neither a LoRA weight nor a tensor of the base`);
    if (b.shape.join() !== t.shape.join())
      throw new PeftError(`${ADAPTER_WEIGHTS}: "${t.name}" has shape [${t.shape}], the base's "${key}" has [${b.shape}]`);
    saved.set(key, fromFloat32(key, [...t.shape], Float32Array.from(toFloat32(t))));
  }
  const lora = new Map<string, LoraPair>();
  for (const site of sites) {
    const h = halves.get(site.module);
    if (!h) continue;
    if (!h.a || !h.b)
      throw new PeftError(`${ADAPTER_WEIGHTS}: module "${site.module}" has lora_${h.a ? 'A' : 'B'} but not lora_${h.a ? 'B' : 'A'}`);
    const r = h.a.shape[0];
    if (h.a.shape.length !== 2 || h.a.shape[1] !== site.inFeatures)
      throw new PeftError(`${ADAPTER_WEIGHTS}: "${h.a.name}" has shape [${h.a.shape}], expected [r, ${site.inFeatures}]`);
    if (h.b.shape.length !== 2 || h.b.shape[0] !== site.outFeatures || h.b.shape[1] !== r)
      throw new PeftError(`${ADAPTER_WEIGHTS}: "${h.b.name}" has shape [${h.b.shape}], expected [${site.outFeatures}, ${r}]`);
    if (r !== config.r) throw new PeftError(`${ADAPTER_WEIGHTS}: module "${site.module}" has rank ${r}, the config says r = ${config.r}`);
    // fan_in_fan_out says how the base that PEFT wrapped stored W; lora_A [r, in] and lora_B [out, r]
    // are the same either way, and the merge follows this base's own layout (site.layout). So an
    // adapter made on a torch nn.Linear copy of a garden MLP (fan_in_fan_out false) applies as is.
    lora.set(site.module, { site, r, a: Float32Array.from(toFloat32(h.a)), b: Float32Array.from(toFloat32(h.b)) });
  }
  const species = metadata[GARDEN_SPECIES_KEY];
  return { config, lora, saved, ...(species ? { species } : {}) };
}
