/**
 * Hugging Face model folders of the Llama family (LlamaForCausalLM, MistralForCausalLM,
 * Qwen2ForCausalLM) and GPT-2 (GPT2LMHeadModel, gpt2.ts; importHfModel / hfLmFromModel): `config.json`, `model.safetensors` or shards with
 * `model.safetensors.index.json`, `tokenizer.json` (+ `tokenizer_config.json`,
 * `generation_config.json`), in F32, F16 or BF16, each tensor kept in its own dtype.
 *
 * Import checks, each a one-line FormatError naming the check, before anything is written:
 * architecture (the supported ones named), config (malformed, or disagreeing with a tensor's
 * name or shape), tokenizer (none, or one that does not load or does not fit vocab_size),
 * shards (a shard the index names is missing, or a .safetensors file the index does not name),
 * index (the index and the shards disagree), dtype (anything but F32, F16, BF16).
 *
 * The species binds tensor names, shapes and dtypes (as for every model) and, as its graph hash,
 * the architecture hash: the settings of the config that decide the computation and the
 * tokenizer's hash (llama-config.ts architectureHash). The generated ONNX decoder is a pure
 * function of that config, so it needs no bytes of its own. In a `.slm` the folder's JSON files
 * travel verbatim in the metadata (HF_KEYS) and are checked against the species when read back.
 */
import { FormatError } from './errors.ts';
import { HF_KEYS } from './hf-keys.ts';
import { HF_INDEX_FILE, openHfSharded } from './hf-index.ts';
import { type ImportedModel } from './model.ts';
import { openSafetensors } from './reader.ts';
import { compareNames, parseStrictJson, type TensorSpec } from './safetensors.ts';
import { planShards, speciesId, speciesSignature } from './slm.ts';
import type { ByteSource } from './source.ts';
import {
  architectureHash,
  checkTensorsAgainstConfig,
  GPT2_ARCHITECTURE,
  HF_ARCHITECTURES,
  parseCausalLmConfig,
  type CausalLmConfig,
} from '../models/llama-config.ts';
import { checkGpt2Specs, gpt2ArchitectureHash, parseGpt2Config, type Gpt2Config } from '../models/gpt2.ts';
import { loadTokenizer, tokenizerHash, type TextTokenizer } from '../models/tokenizer.ts';
import { byteLength, type DType } from '../tensor.ts';
import { dequantizedSpecs, isQuantizedModel, quantBlockSize, quantizedWeights } from '../models/quantized-graph.ts';
import { QUANT_KEYS } from '../operators/quantize.cpu.ts';

/** The dtypes a Hugging Face checkpoint may hold. */
export const HF_DTYPES: readonly DType[] = Object.freeze(['F32', 'F16', 'BF16']);

export const HF_FILES = Object.freeze({
  config: 'config.json',
  weights: 'model.safetensors',
  index: HF_INDEX_FILE,
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  generationConfig: 'generation_config.json',
  card: 'README.md',
} as const);

/** `.slm` metadata keys that carry the folder's JSON files, verbatim. */
export { HF_KEYS };

/** A folder as the importer sees it: plain file names, random-access sources and bounded text reads. */
export interface HfFolder {
  readonly files: readonly string[];
  open(file: string): Promise<ByteSource>;
  readText(file: string): Promise<string>;
}

/** The folder's JSON files, verbatim. */
export interface HfTextFiles {
  config: string;
  tokenizer: string;
  tokenizerConfig?: string;
  generationConfig?: string;
}

/** A causal LM ready to run: its config, tokenizer, text files and tensors. */
export interface CausalLm {
  config: CausalLmConfig;
  texts: HfTextFiles;
  tokenizer: TextTokenizer;
  /** End-of-sequence ids: generation_config.json, else config.json, else the tokenizer's. */
  eosTokenIds: number[];
  model: ImportedModel;
}

/** A GPT-2 (GPT2LMHeadModel) ready to run: as CausalLm, with its own config. */
export interface Gpt2Lm extends Omit<CausalLm, 'config'> {
  config: Gpt2Config;
}

/** Any causal LM a Hugging Face folder may hold. */
export type HfLm = CausalLm | Gpt2Lm;

export const isGpt2Lm = (lm: HfLm): lm is Gpt2Lm => lm.config.architecture === GPT2_ARCHITECTURE;

/** The config.json of either family (the architecture decides which reader). */
function parseHfConfig(raw: unknown): CausalLmConfig | Gpt2Config {
  const archs = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>).architectures : undefined;
  if (!Array.isArray(archs) || archs.length !== 1 || archs[0] !== GPT2_ARCHITECTURE) return parseCausalLmConfig(raw);
  try {
    return parseGpt2Config(raw);
  } catch (e) {
    throw new FormatError('config', (e as Error).message);
  }
}

/** Only the Llama family: a GPT-2 is refused naming the check (the steps that take only Llama-family models). */
function llamaFamily(lm: HfLm): CausalLm {
  if (isGpt2Lm(lm))
    throw new FormatError(
      'architecture',
      `${GPT2_ARCHITECTURE} is imported and generated from, but this step takes only ${HF_ARCHITECTURES.filter((a) => a !== GPT2_ARCHITECTURE).join(', ')}`,
    );
  return lm;
}

function parseJsonText(text: string, file: string, check: 'config' | 'tokenizer'): unknown {
  try {
    return parseStrictJson(text, 'json-keys');
  } catch (e) {
    throw new FormatError(check, `${file}: ${(e as Error).message}`);
  }
}

function eosIds(config: { eosTokenIds: number[] }, texts: HfTextFiles, tokenizer: TextTokenizer): number[] {
  if (texts.generationConfig !== undefined) {
    const g = parseJsonText(texts.generationConfig, HF_FILES.generationConfig, 'config') as Record<string, unknown> | null;
    const e = g && typeof g === 'object' ? g.eos_token_id : undefined;
    const list = e === undefined || e === null ? [] : Array.isArray(e) ? e : [e];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0))
      throw new FormatError(
        'config',
        `${HF_FILES.generationConfig}: eos_token_id is ${JSON.stringify(e)}, expected a token id or a list of them`,
      );
    if (list.length) return list as number[];
  }
  return config.eosTokenIds.length ? config.eosTokenIds : tokenizer.eosTokenIds;
}

/** Check the config, tokenizer and tensors together and give the model its species. */
function assemble(
  texts: HfTextFiles,
  tensors: TensorSpec[],
  read: (name: string) => Promise<Uint8Array>,
  format: ImportedModel['format'],
  recordedGraph?: string,
  quantBlock?: number,
): HfLm {
  const config = parseHfConfig(parseJsonText(texts.config, HF_FILES.config, 'config'));
  const gpt2 = config.architecture === GPT2_ARCHITECTURE;
  const tokenizer = loadTokenizer({ tokenizer: texts.tokenizer, config: texts.tokenizerConfig });
  if (tokenizer.size > config.vocabSize)
    throw new FormatError('tokenizer', `tokenizer.json has ${tokenizer.size} token ids but config.json vocab_size is ${config.vocabSize}`);
  // A model garden quantize wrote: its "W.q" + "W.scales" pairs are checked as the weights they stand for.
  const quantized = isQuantizedModel(tensors);
  if (quantized) {
    if (gpt2) throw new FormatError('dtype', `quantized tensors (".q" + ".scales") are not supported for ${GPT2_ARCHITECTURE}`);
    if (quantBlock === undefined) throw new FormatError('dtype', 'quantized tensors (".q" + ".scales") without a recorded block size');
    try {
      quantizedWeights(tensors, quantBlock);
    } catch (e) {
      throw new FormatError('dtype', (e as Error).message);
    }
  }
  const plain = quantized ? dequantizedSpecs(tensors) : tensors;
  for (const t of plain) {
    if (!HF_DTYPES.includes(t.dtype))
      throw new FormatError('dtype', `tensor ${JSON.stringify(t.name)} is ${t.dtype}; supported: ${HF_DTYPES.join(', ')}`);
  }
  const tokHash = tokenizerHash({ tokenizer: texts.tokenizer, config: texts.tokenizerConfig });
  let graphHash: string;
  if (config.architecture === GPT2_ARCHITECTURE) {
    checkGpt2Specs(config, plain);
    graphHash = gpt2ArchitectureHash(config, tokHash);
  } else {
    checkTensorsAgainstConfig(config, plain);
    graphHash = architectureHash(config, tokHash);
  }
  if (recordedGraph !== undefined && recordedGraph !== graphHash) {
    throw new FormatError(
      'species',
      `the model's architecture hash is ${recordedGraph} but its config.json and tokenizer give ${graphHash}`,
    );
  }
  const specs = [...tensors].sort(compareNames);
  const metadata: Record<string, string> = { [HF_KEYS.config]: texts.config, [HF_KEYS.tokenizer]: texts.tokenizer };
  if (texts.tokenizerConfig !== undefined) metadata[HF_KEYS.tokenizerConfig] = texts.tokenizerConfig;
  if (texts.generationConfig !== undefined) metadata[HF_KEYS.generationConfig] = texts.generationConfig;
  const model: ImportedModel = {
    format,
    tensors: specs,
    read,
    graph: null,
    graphHash,
    vocabulary: [],
    metadata,
    species: speciesId(speciesSignature(specs, graphHash, [])),
  };
  const eosTokenIds = eosIds(config, texts, tokenizer);
  if (config.architecture === GPT2_ARCHITECTURE) return { config, texts, tokenizer, eosTokenIds, model };
  const run = quantized ? { ...config, quantBlockSize: quantBlock } : config;
  return { config: run, texts, tokenizer, eosTokenIds, model };
}

/** Import a Llama-family Hugging Face model folder (importHfModel, a GPT-2 refused). */
export async function importHfFolder(folder: HfFolder): Promise<CausalLm> {
  return llamaFamily(await importHfModel(folder));
}

/** Import a Hugging Face model folder of any supported architecture (nothing is written; the caller streams `model` into a `.slm`). */
export async function importHfModel(folder: HfFolder): Promise<HfLm> {
  const has = (f: string) => folder.files.includes(f);
  if (!has(HF_FILES.config)) throw new FormatError('config', `the folder has no ${HF_FILES.config}`);
  const config = await folder.readText(HF_FILES.config);
  // The architecture is checked first: an unsupported model is named as such, whatever else it has.
  parseHfConfig(parseJsonText(config, HF_FILES.config, 'config'));
  if (!has(HF_FILES.tokenizer)) throw new FormatError('tokenizer', `the folder has no ${HF_FILES.tokenizer}`);
  const texts: HfTextFiles = { config, tokenizer: await folder.readText(HF_FILES.tokenizer) };
  if (has(HF_FILES.tokenizerConfig)) texts.tokenizerConfig = await folder.readText(HF_FILES.tokenizerConfig);
  if (has(HF_FILES.generationConfig)) texts.generationConfig = await folder.readText(HF_FILES.generationConfig);

  const weightFiles = folder.files.filter((f) => f.endsWith('.safetensors')).sort();
  if (has(HF_FILES.index)) {
    const indexText = await folder.readText(HF_FILES.index);
    const sharded = await openHfSharded(indexText, async (f) => {
      if (!has(f)) throw new FormatError('shards', `shard ${JSON.stringify(f)} named by ${HF_FILES.index} is missing from the folder`);
      return folder.open(f);
    });
    const named = new Set(sharded.index.files);
    const extra = weightFiles.find((f) => !named.has(f));
    if (extra !== undefined) throw new FormatError('shards', `${JSON.stringify(extra)} is not named by ${HF_FILES.index} (an extra shard)`);
    const total = sharded.index.metadata.total_size;
    const size = sharded.tensors.reduce((s, t) => s + byteSize(t), 0);
    if (typeof total === 'number' && total !== size)
      throw new FormatError('index', `${HF_INDEX_FILE} metadata.total_size is ${total} but the shards' tensors hold ${size} bytes`);
    return assemble(texts, sharded.tensors, sharded.read, 'safetensors-sharded');
  }
  if (!has(HF_FILES.weights)) throw new FormatError('shards', `the folder has neither ${HF_FILES.weights} nor ${HF_FILES.index}`);
  const extra = weightFiles.find((f) => f !== HF_FILES.weights);
  if (extra !== undefined)
    throw new FormatError('shards', `${JSON.stringify(extra)} is beside ${HF_FILES.weights} without an index (an extra shard)`);
  const r = await openSafetensors(await folder.open(HF_FILES.weights));
  return assemble(texts, r.tensors, async (n) => (await r.read(n)).data, 'safetensors');
}

const byteSize = (t: TensorSpec) => byteLength(t.dtype, t.shape);

/** Is this imported model (a `.slm` read back) a causal LM, i.e. does it carry the folder's files? */
export function isCausalLmModel(model: Pick<ImportedModel, 'metadata'>): boolean {
  return model.metadata[HF_KEYS.config] !== undefined;
}

/** A Llama-family causal LM from a `.slm` (hfLmFromModel, a GPT-2 refused). */
export function causalLmFromModel(model: ImportedModel): CausalLm {
  return llamaFamily(hfLmFromModel(model));
}

/** A causal LM from a `.slm` (or any imported model) that carries the folder's files in its metadata. */
export function hfLmFromModel(model: ImportedModel): HfLm {
  const m = model.metadata;
  if (m[HF_KEYS.config] === undefined)
    throw new FormatError('config', `the model carries no ${HF_KEYS.config}: it was not imported from a Hugging Face folder`);
  if (m[HF_KEYS.tokenizer] === undefined) throw new FormatError('tokenizer', `the model carries no ${HF_KEYS.tokenizer}`);
  const texts: HfTextFiles = { config: m[HF_KEYS.config], tokenizer: m[HF_KEYS.tokenizer] };
  if (m[HF_KEYS.tokenizerConfig] !== undefined) texts.tokenizerConfig = m[HF_KEYS.tokenizerConfig];
  if (m[HF_KEYS.generationConfig] !== undefined) texts.generationConfig = m[HF_KEYS.generationConfig];
  const quantBlock = m[QUANT_KEYS.blockSize] === undefined ? undefined : quantBlockSize(m);
  const lm = assemble(texts, model.tensors, model.read, model.format, model.graphHash, quantBlock);
  if (lm.model.species !== model.species)
    throw new FormatError(
      'species',
      `the model's species is ${model.species} but its tensors, config.json and tokenizer give ${lm.model.species}`,
    );
  return { ...lm, model: { ...lm.model, metadata: { ...model.metadata } } };
}

/** One file of an exported Hugging Face folder. */
export type HfExportFile = { name: string; text: string } | { name: string; shard: TensorSpec[] };

/** The safetensors shard file names Hugging Face uses: model.safetensors, or model-0000k-of-0000n.safetensors. */
export function hfShardName(i: number, n: number): string {
  return n === 1 ? HF_FILES.weights : `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

/** Metadata every exported shard carries (transformers refuses a safetensors file whose format is not "pt"). */
export const HF_SHARD_METADATA: Readonly<Record<string, string>> = Object.freeze({ format: 'pt' });

/**
 * The files of a Hugging Face folder for a causal LM, in write order: the JSON files verbatim, the
 * shards (each ≤ maxShardBytes unless one tensor alone is larger) and, for several, the index.
 */
export function hfExportFiles(lm: HfLm, maxShardBytes: number): HfExportFile[] {
  const out: HfExportFile[] = [{ name: HF_FILES.config, text: lm.texts.config }];
  if (lm.texts.generationConfig !== undefined) out.push({ name: HF_FILES.generationConfig, text: lm.texts.generationConfig });
  out.push({ name: HF_FILES.tokenizer, text: lm.texts.tokenizer });
  if (lm.texts.tokenizerConfig !== undefined) out.push({ name: HF_FILES.tokenizerConfig, text: lm.texts.tokenizerConfig });
  const plan = planShards(lm.model.tensors, maxShardBytes, JSON.stringify(HF_SHARD_METADATA).length + 16);
  plan.forEach((shard, i) => out.push({ name: hfShardName(i, plan.length), shard }));
  if (plan.length > 1) {
    const weight_map: Record<string, string> = {};
    let total = 0;
    plan.forEach((shard, i) => {
      for (const t of shard) {
        weight_map[t.name] = hfShardName(i, plan.length);
        total += byteSize(t);
      }
    });
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(weight_map).sort()) sorted[k] = weight_map[k];
    out.push({ name: HF_FILES.index, text: JSON.stringify({ metadata: { total_size: total }, weight_map: sorted }, null, 2) + '\n' });
  }
  return out;
}
