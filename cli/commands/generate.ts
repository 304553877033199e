/**
 * `garden generate M (--prompt TEXT | --ids 1,2,3) --max-new N [--greedy | --temperature T
 * [--top-k K] [--top-p P] [--seed S]] [--json]`: run a causal LM (a `.slm` imported from a Hugging
 * Face folder, or the folder itself; Llama family or GPT-2) in onnxruntime-web on the generated ONNX decoder, on the
 * CPU reference with --runtime reference, or (Llama family) on the garden's wasm-SIMD decoder with
 * --runtime simd (src/runtime/simd-decoder.ts: int8/int4 weights read as stored).
 *
 * --json prints one JSON object: {"ids": [prompt ids, then generated ids], "text": the decoded
 * ids (special tokens skipped), "logits": [vocab floats at the last prompt position]}; scripts
 * depend on these three keys. Without --json the text is printed, then one line of timing on stderr.
 * --adapter DIR applies a PEFT LoRA adapter first, merged or unmerged (src/core/train/llama.ts).
 */
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { loadTensors } from '../../src/core/format/model.ts';
import type { CausalDecoder } from '../../src/core/models/decoder.ts';
import { generate, type GenerateOptions } from '../../src/core/models/generate.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { openHfLm } from '../../src/node/hf-folder.ts';
import { isGpt2Lm } from '../../src/core/format/hf.ts';
import { hfLmDecoder } from '../../src/runtime/hf-lm-decoder.ts';
import { createSimdDecoder } from '../../src/runtime/simd-decoder.ts';
import { LLAMA_GRAPH_VARIANTS, type LlamaGraphVariant } from '../../src/core/models/llama-graph.ts';
import { chatPromptIds, loadChatTemplate } from '../../src/core/models/chat.ts';
import { ADAPTER_MODES, applyLlamaAdapter, type AdapterMode } from '../../src/core/train/llama.ts';
import { readAdapterDir } from '../../src/node/adapter-dir.ts';

export const GENERATE_RUNTIMES = Object.freeze(['onnx', 'reference', 'simd'] as const);

const usage = `garden generate M (--prompt TEXT | --ids 1,2,3) --max-new N
                [--greedy | --temperature T [--top-k K] [--top-p P] [--seed S]] [--json]
                [--chat [--system TEXT]] [--runtime onnx|reference|simd [--threads N]] [--decoder standard|fused]
                [--adapter ADAPTER_DIR [--adapter-mode merged|unmerged]]

M: a .slm imported from a Hugging Face folder (garden import DIR --out M.slm), or the folder.
--prompt TEXT is encoded with the model's tokenizer (its special tokens, e.g. BOS, added);
--ids gives the token ids directly. --chat renders --prompt as a user message (after --system)
through tokenizer_config.json's chat_template, with the generation prompt. Greedy unless --temperature is given (seed 0 by default).
Stops at an end-of-sequence token (generation_config.json, else config.json, else the
tokenizer's) or after N new tokens.
--json: {"ids": [prompt then generated ids], "text": "...", "logits": [vocab floats at the last prompt position]}
--runtime: onnx (the generated decoder in onnxruntime-web, default), reference (the CPU oracle) or
simd (the garden's wasm-SIMD decoder, Llama family: reads int8/int4 weights as stored, f32 activations;
the fast one for a quantized .slm). --threads N (simd only): split each matvec over N threads
(this one + N − 1 workers; default min(2, cores); bit-identical results).
--decoder: standard (ONNX ops only, default) or fused (onnxruntime's SimplifiedLayerNormalization
and GroupQueryAttention where its wasm kernels take the head size).
--adapter: a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors, made by
garden train or by PEFT) applied to M. --adapter-mode: ${Object.entries(ADAPTER_MODES)
  .map(([k, v]) => `${k} (${v})`)
  .join(', or ')}; merged by default, unmerged needs --runtime onnx.`;

function number(text: string | undefined, flag: string, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v)))
    throw new CliError(`--${flag} ${JSON.stringify(text)} is not ${integer ? 'an integer' : 'a number'}`);
  return v;
}

export function parseIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d{1,9}$/.test(p)))
    throw new CliError(`--ids ${JSON.stringify(text)} is not a comma-separated list of token ids`);
  return parts.map(Number);
}

const command: Command = {
  usage,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      prompt: { type: 'string' },
      ids: { type: 'string' },
      'max-new': { type: 'string' },
      greedy: { type: 'boolean', default: false },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      runtime: { type: 'string' },
      decoder: { type: 'string' },
      chat: { type: 'boolean', default: false },
      system: { type: 'string' },
      adapter: { type: 'string' },
      'adapter-mode': { type: 'string' },
      threads: { type: 'string' },
    });
    if (positionals.length !== 1) throw new CliError(`expected one model (a .slm or a Hugging Face folder), got ${positionals.length}`);
    if ((values.prompt === undefined) === (values.ids === undefined))
      throw new CliError('give exactly one of --prompt TEXT or --ids 1,2,3');
    const maxNew = number(values['max-new'], 'max-new', true);
    if (maxNew === undefined || maxNew < 0) throw new CliError('--max-new N (a non-negative integer) is required');
    const runtime = values.runtime ?? 'onnx';
    if (!(GENERATE_RUNTIMES as readonly string[]).includes(runtime))
      throw new CliError(`--runtime must be one of: ${GENERATE_RUNTIMES.join(', ')}`);
    const variant = (values.decoder ?? 'standard') as LlamaGraphVariant;
    if (!Object.prototype.hasOwnProperty.call(LLAMA_GRAPH_VARIANTS, variant))
      throw new CliError(`--decoder must be one of: ${Object.keys(LLAMA_GRAPH_VARIANTS).join(', ')}`);
    if (values.chat && values.prompt === undefined) throw new CliError('--chat needs --prompt TEXT');
    if (values.system !== undefined && !values.chat) throw new CliError('--system needs --chat');
    if (values.decoder !== undefined && runtime !== 'onnx') throw new CliError('--decoder applies to --runtime onnx only');
    const threads = number(values.threads, 'threads', true);
    if (threads !== undefined && runtime !== 'simd') throw new CliError('--threads applies to --runtime simd only');
    if (threads !== undefined && (threads < 1 || threads > 64)) throw new CliError('--threads N takes 1 to 64 threads');
    const adapterMode = (values['adapter-mode'] ?? 'merged') as AdapterMode;
    if (values['adapter-mode'] !== undefined && values.adapter === undefined) throw new CliError('--adapter-mode needs --adapter DIR');
    if (!Object.prototype.hasOwnProperty.call(ADAPTER_MODES, adapterMode))
      throw new CliError(`--adapter-mode must be one of: ${Object.keys(ADAPTER_MODES).join(', ')}`);
    if (adapterMode === 'unmerged' && runtime !== 'onnx')
      throw new CliError(`--adapter-mode unmerged runs in the ONNX decoder graph; the ${runtime} runtime takes merged adapters`);
    const sampling = {
      temperature: number(values.temperature, 'temperature', false),
      topK: number(values['top-k'], 'top-k', true),
      topP: number(values['top-p'], 'top-p', false),
      seed: number(values.seed, 'seed', true),
    };
    if (values.greedy && Object.values(sampling).some((v) => v !== undefined))
      throw new CliError('--greedy takes no --temperature, --top-k, --top-p or --seed');
    if (sampling.temperature === undefined && (sampling.topK !== undefined || sampling.topP !== undefined || sampling.seed !== undefined))
      throw new CliError('--top-k, --top-p and --seed need --temperature T');

    const { lm, close } = await openHfLm(positionals[0]);
    let decoder: CausalDecoder | undefined;
    try {
      let prompt: number[];
      if (values.ids !== undefined) prompt = parseIds(values.ids);
      else if (values.chat) {
        const template = loadChatTemplate(lm.texts.tokenizerConfig);
        if (!template) throw new CliError("--chat: the model's tokenizer_config.json has no chat_template");
        prompt = chatPromptIds(template, lm.tokenizer, values.prompt!, values.system);
      } else prompt = lm.tokenizer.encode(values.prompt!);
      const V = lm.config.vocabSize;
      const bad = prompt.find((id) => id >= V);
      if (bad !== undefined) throw new CliError(`--ids: token id ${bad} is outside the vocabulary 0..${V - 1}`);
      if (prompt.length === 0) throw new CliError('the prompt encodes to no tokens');
      if (prompt.length + maxNew > lm.config.maxPositionEmbeddings)
        throw new CliError(
          `${prompt.length} prompt tokens + --max-new ${maxNew} exceed max_position_embeddings ${lm.config.maxPositionEmbeddings}`,
        );
      let tensors = await loadTensors(lm.model);
      if (isGpt2Lm(lm)) {
        // Adapters and the fused decoder are Llama-family only.
        if (values.adapter !== undefined) throw new CliError('--adapter takes a Llama-family model, not GPT2LMHeadModel');
        if (variant !== 'standard') throw new CliError(`--decoder ${variant} takes a Llama-family model, not GPT2LMHeadModel`);
        if (runtime === 'simd') throw new CliError('--runtime simd takes a Llama-family model, not GPT2LMHeadModel');
      } else if (values.adapter !== undefined)
        tensors = applyLlamaAdapter(lm.config, tensors, readAdapterDir(values.adapter), adapterMode, lm.model.species).tensors;
      decoder =
        runtime === 'simd' && !isGpt2Lm(lm)
          ? await createSimdDecoder(lm.config, tensors, { threads })
          : await hfLmDecoder(lm, tensors, runtime as 'onnx' | 'reference', variant);
      const opts: GenerateOptions = { maxNew, eosTokenIds: lm.eosTokenIds, ...(values.greedy ? { greedy: true } : sampling) };
      const g = await generate(decoder, prompt, opts);
      const text = lm.tokenizer.decode(g.ids);
      if (values.json) console.log(JSON.stringify({ ids: g.ids, text, logits: Array.from(g.promptLogits) }));
      else {
        console.log(text);
        const tps = g.generated.length > 1 && g.decodeMs > 0 ? ((g.generated.length - 1) / g.decodeMs) * 1000 : 0;
        console.error(
          `${prompt.length} prompt tokens in ${g.prefillMs.toFixed(1)} ms, ${g.generated.length} new (${g.stop}), ${tps.toFixed(1)} tokens/s decoding on ${runtime}`,
        );
      }
      return 0;
    } finally {
      await decoder?.release();
      await close();
    }
  },
};

export default command;
