/**
 * mergekit's `passthrough` with layer `slices` (merge_methods/passthrough.py, plan.py, merge.py
 * `_model_out_config`): layer stacking, a "frankenmerge". Each output tensor is one input tensor,
 * multiplied by `scale` when one is given; what is new is which tensor lands where, so the
 * operator declares a `layout` (which parent's tensor becomes which output tensor) beside its
 * per-tensor CPU function (x · scale). docs/OPERATORS.md, "Passthrough", states the rules.
 *
 * In a recipe each parent is one slice, in order (mergekit's slices, one source each: passthrough
 * takes exactly one tensor per output tensor), and `layerRange` gives each slice's [from, to): the
 * same model may be a parent twice. Output layer i is the i-th layer of the concatenated slices,
 * renamed `model.layers.{i}.…`. As mergekit's planner: the embeddings (pre-weights) come from the
 * first slice's model with the first slice's parameters, the final norm and the head
 * (post-weights) from the last slice's model with the last slice's parameters, both at t = 0;
 * inside a slice of n layers, layer k has t = k/(n − 1) (1 when n = 1) for gradients; a filter
 * matches the source tensor's name (mergekit's tensor parameters read `weight_in.name`).
 */
import type { ParamValues, RecipeParams, TensorInfo } from './types.ts';
import { num } from './params.ts';
import { compareNames } from '../format/safetensors.ts';
import { HF_KEYS } from '../format/hf-keys.ts';
import { architectureHash, architectureKey, checkTensorsAgainstConfig, parseCausalLmConfig } from '../models/llama-config.ts';
import { tokenizerHash } from '../models/tokenizer.ts';
import type { Sha256Hex } from '../hash.ts';

/** A decoder layer's tensors: model.layers.{i}.{rest}. */
const LAYER_NAME = /^model\.layers\.(\d+)\.(.+)$/;

/** One output tensor: which parent's tensor it is, renamed, and the layer position gradients see. */
export interface RoutedTensor {
  name: string;
  parent: number;
  source: string;
  t: number;
}

/** Where each output layer comes from, in output order. */
export interface LayerSource {
  parent: number;
  layer: number;
}

export interface TensorLayout {
  tensors: RoutedTensor[];
  /** The output's layers; null when the layout only copies one parent (no layerRange). */
  layers: LayerSource[] | null;
}

function fail(msg: string): never {
  throw new Error(`passthrough: ${msg}`);
}

/** The layer count of a model in Hugging Face names (0..L−1, every index present). */
function layerCount(tensors: readonly TensorInfo[], what: string): number {
  const seen = new Set<number>();
  for (const t of tensors) {
    const m = LAYER_NAME.exec(t.name);
    if (m) seen.add(Number(m[1]));
  }
  for (let i = 0; i < seen.size; i++) if (!seen.has(i)) fail(`${what} has layers up to ${Math.max(...seen)} but no layer ${i}`);
  return seen.size;
}

/** A layer's tensors as (rest of the name → info). */
function layerTensors(tensors: readonly TensorInfo[], layer: number): TensorInfo[] {
  const p = `model.layers.${layer}.`;
  return tensors.filter((t) => t.name.startsWith(p));
}

const isEmbedding = (name: string) => name.includes('embed');

/** The layer ranges a recipe gives, checked against the parents' layer counts. */
function slices(parents: readonly (readonly TensorInfo[])[], params: RecipeParams): { parent: number; from: number; to: number }[] {
  const ranges = params.layerRange;
  if (!Array.isArray(ranges)) fail('layerRange must give one [from, to) per parent');
  return ranges.map((r, i) => {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && Number.isInteger(x)))
      fail(`layerRange[${i}] is ${JSON.stringify(r)}, expected two integers [from, to)`);
    const [from, to] = r as number[];
    const n = layerCount(parents[i], `parent ${i}`);
    if (from < 0 || to > n || from >= to)
      fail(`layerRange[${i}] [${from}, ${to}) is outside parent ${i}'s ${n} layers (a non-empty range within [0, ${n}))`);
    return { parent: i, from, to };
  });
}

/** Refuse layers whose tensors differ from the first slice's first layer (another hidden size, other heads). */
function checkLayer(parents: readonly (readonly TensorInfo[])[], ref: TensorInfo[], parent: number, layer: number, refWhat: string): void {
  const got = layerTensors(parents[parent], layer);
  const rest = (t: TensorInfo) => t.name.replace(LAYER_NAME, '$2');
  const want = new Map(ref.map((t) => [rest(t), t]));
  for (const t of got) {
    const w = want.get(rest(t));
    if (!w) fail(`parent ${parent} layer ${layer} has ${rest(t)}, which ${refWhat} lacks`);
    if (w.shape.join(',') !== t.shape.join(',') || w.dtype !== t.dtype)
      fail(
        `parent ${parent} layer ${layer} ${rest(t)} is ${t.dtype} [${t.shape}] but ${refWhat}'s is ${w.dtype} [${w.shape}]: the slices' hidden size or heads differ`,
      );
  }
  if (got.length !== ref.length) fail(`parent ${parent} layer ${layer} has ${got.length} tensors, ${refWhat} has ${ref.length}`);
}

/** The output tensors of a passthrough, in name order (the order an import gives). */
export function passthroughLayout(parents: readonly (readonly TensorInfo[])[], params: RecipeParams): TensorLayout {
  if (params.layerRange === undefined) {
    if (parents.length !== 1)
      fail(`without layerRange it takes exactly one parent (mergekit: one tensor per output tensor), got ${parents.length}`);
    return { tensors: parents[0].map((t) => ({ name: t.name, parent: 0, source: t.name, t: 0 })), layers: null };
  }
  const s = slices(parents, params);
  const ref = layerTensors(parents[s[0].parent], s[0].from);
  const refWhat = `parent ${s[0].parent} layer ${s[0].from}`;
  const out: RoutedTensor[] = [];
  const layers: LayerSource[] = [];
  const nonLayer = (p: number, pre: boolean) =>
    parents[p]
      .filter((t) => !LAYER_NAME.test(t.name) && isEmbedding(t.name) === pre)
      .map((t) => ({ name: t.name, parent: p, source: t.name, t: 0 }));
  out.push(...nonLayer(s[0].parent, true));
  for (const { parent, from, to } of s) {
    const n = to - from;
    for (let k = 0; k < n; k++) {
      checkLayer(parents, ref, parent, from + k, refWhat);
      const i = layers.length;
      layers.push({ parent, layer: from + k });
      for (const t of layerTensors(parents[parent], from + k))
        out.push({ name: t.name.replace(LAYER_NAME, `model.layers.${i}.$2`), parent, source: t.name, t: n > 1 ? k / (n - 1) : 1 });
    }
  }
  out.push(...nonLayer(s[s.length - 1].parent, false));
  return { tensors: out.sort(compareNames), layers };
}

/** Every architecture setting but the layer count: stacked layers compute as they did only when these agree. */
function settingsKey(config: string): string {
  const { numLayers: _n, ...rest } = architectureKey(parseCausalLmConfig(JSON.parse(config) as unknown));
  return JSON.stringify(rest);
}

/**
 * The candidate's Hugging Face files for a layer stack: parent 0's config.json with
 * `num_hidden_layers` set to the new count (and `layer_types`, where the config lists one, taken
 * layer by layer from the sources), the same tokenizer files, and the architecture hash they give.
 * Refuses (nothing written) parents that are not causal LMs, whose settings other than the layer
 * count differ, or whose tokenizers differ, and tensors the new config does not imply.
 */
export function stackedCausalLm(
  metadata: readonly (Readonly<Record<string, string>> | undefined)[],
  layers: readonly LayerSource[],
  tensors: readonly TensorInfo[],
): { metadata: Record<string, string>; graph: Sha256Hex } {
  const texts = metadata.map((m, i) => {
    const config = m?.[HF_KEYS.config];
    const tokenizer = m?.[HF_KEYS.tokenizer];
    if (config === undefined || tokenizer === undefined)
      fail(`layer slices need causal LMs imported from Hugging Face folders (config.json sets the layer count); parent ${i} has none`);
    return { config, tokenizer, tokenizerConfig: m?.[HF_KEYS.tokenizerConfig] };
  });
  const used = [...new Set(layers.map((l) => l.parent))];
  const key0 = settingsKey(texts[0].config);
  const tok = (i: number) => tokenizerHash({ tokenizer: texts[i].tokenizer, config: texts[i].tokenizerConfig });
  for (const i of used) {
    if (settingsKey(texts[i].config) !== key0)
      fail(`parent ${i}'s config.json differs from parent 0's in more than num_hidden_layers (hidden size, heads, rope, norm or biases)`);
    if (tok(i) !== tok(0)) fail(`parent ${i}'s tokenizer differs from parent 0's`);
  }
  const raw = JSON.parse(texts[0].config) as Record<string, unknown>;
  raw.num_hidden_layers = layers.length;
  if (Array.isArray(raw.layer_types)) {
    const typesOf = texts.map((t) => (JSON.parse(t.config) as { layer_types?: unknown[] }).layer_types);
    raw.layer_types = layers.map((l) => typesOf[l.parent]?.[l.layer] ?? fail(`parent ${l.parent}'s layer_types has no layer ${l.layer}`));
  }
  const config = JSON.stringify(raw, null, 2) + '\n';
  const parsed = parseCausalLmConfig(raw);
  checkTensorsAgainstConfig(parsed, tensors);
  const graph = architectureHash(parsed, tokenizerHash({ tokenizer: texts[0].tokenizer, config: texts[0].tokenizerConfig }));
  return { metadata: { [HF_KEYS.config]: config }, graph };
}

/** The per-tensor function: the routed tensor times its scale (mergekit multiplies only when a scale is set; 1 is copied as is). */
export function passthroughCpu(inputs: readonly Float32Array[], params: ParamValues): Float32Array {
  const scale = num(params, 'scale', 1);
  const x = inputs[0];
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * scale;
  return out;
}
