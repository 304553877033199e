/**
 * `garden eval M --text FILE [--text FILE …]`: perplexity of a causal LM (a Hugging Face folder or
 * a `.slm` imported from one) on frozen UTF-8 text suites (src/core/models/perplexity.ts: per
 * token of the model's own tokenizer, and bits per byte), through the generated ONNX decoder in
 * onnxruntime-web or the CPU reference. Each text can be pinned by SHA-256 (--pin, in order).
 */
import { basename } from 'node:path';
import { CliError } from '../command.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { loadTensors } from '../../src/core/format/model.ts';
import type { CausalDecoder } from '../../src/core/models/decoder.ts';
import { calibrationCollector, perplexity, type Calibration, type Perplexity } from '../../src/core/models/perplexity.ts';
import { generationSmoke, type GenerationSmoke } from '../../src/core/models/lm-smoke.ts';
import { openHfLm } from '../../src/node/hf-folder.ts';
import { hfLmDecoder } from '../../src/runtime/hf-lm-decoder.ts';
import type { HfLm } from '../../src/core/format/hf.ts';
import { LIMITS, readRegularSync } from '../../src/node/confine.ts';

export interface TextEvalOptions {
  texts: string[];
  pins: string[];
  window?: number;
  runtime: 'onnx' | 'reference';
  json: boolean;
  /** Confidence bins of the next-token calibration (default 10). */
  bins?: number;
  /** Length limit of the generation smoke's greedy rollout (default 16). */
  smokeNew?: number;
}

export interface TextEvalResult extends Perplexity {
  suite: string;
  hash: string;
  pinned: boolean;
  /** Top-1 next-token expected calibration error over the scored tokens (the same pass as perplexity). */
  ece: number;
  /** Share of scored tokens whose most probable prediction was the next token. */
  top1Accuracy: number;
  calibration: Calibration;
}

/** Tokens of the first suite that prompt the generation smoke. */
export const SMOKE_PROMPT_TOKENS = 8;

const fmt = (v: number) => (v >= 100 ? v.toFixed(1) : v.toPrecision(5));

/** Score the model on each text; prints one line per suite (or JSON) and returns the results. */
export async function evalTexts(model: string, o: TextEvalOptions): Promise<TextEvalResult[]> {
  if (o.pins.length > o.texts.length) throw new CliError(`${o.pins.length} --pin for ${o.texts.length} --text`);
  for (const p of o.pins) if (!/^[0-9a-f]{64}$/.test(p)) throw new CliError('--pin must be a lowercase SHA-256 hex string');
  // Pins are checked before the model is loaded: nothing runs on a refused suite.
  const suites = o.texts.map((file, i) => {
    const bytes = readRegularSync(file, 'suite', LIMITS.suite);
    const hash = sha256Hex(bytes);
    if (o.pins[i] !== undefined && o.pins[i] !== hash) throw new CliError(`suite ${file} has SHA-256 ${hash}, not the pinned ${o.pins[i]}`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new CliError(`suite ${file} is not UTF-8 text`);
    }
    return { file, hash, text, pinned: o.pins[i] !== undefined };
  });
  const bins = o.bins ?? 10;
  if (!Number.isSafeInteger(bins) || bins < 1 || bins > 1000) throw new CliError(`--bins ${bins} must be an integer in 1..1000`);
  return withLmDecoder(model, o.runtime, async (lm, decoder) => {
    const maxPos = lm.config.maxPositionEmbeddings;
    const window = o.window ?? Math.min(512, maxPos);
    if (!Number.isSafeInteger(window) || window < 2 || window > maxPos)
      throw new CliError(`--window ${window} must be an integer in 2..${maxPos} (max_position_embeddings)`);
    // Generation smoke first (cheap): a greedy rollout from the first suite's opening tokens.
    const prompt = lm.tokenizer.encode(suites[0].text).slice(0, SMOKE_PROMPT_TOKENS);
    if (prompt.length === 0) throw new CliError(`suite ${suites[0].file} encodes to no tokens; the generation smoke needs a prompt`);
    const smokeNew = o.smokeNew ?? Math.min(16, maxPos - prompt.length);
    if (!Number.isSafeInteger(smokeNew) || smokeNew < 1 || prompt.length + smokeNew > maxPos)
      throw new CliError(`--smoke-new ${smokeNew} must be an integer in 1..${maxPos - prompt.length} (max_position_embeddings − prompt)`);
    const smoke = await generationSmoke(decoder, prompt, { steps: smokeNew, eosTokenIds: lm.eosTokenIds });
    const results: TextEvalResult[] = [];
    for (const s of suites) {
      const c = calibrationCollector(bins);
      const p = await perplexity(decoder, lm.tokenizer, s.text, { window, onToken: c.onToken });
      const calibration = c.result();
      results.push({
        suite: basename(s.file),
        hash: s.hash,
        pinned: s.pinned,
        ...p,
        ece: calibration.ece,
        top1Accuracy: calibration.accuracy,
        calibration,
      });
    }
    if (o.json) console.log(JSON.stringify({ model, runtime: o.runtime, window, results, generationSmoke: smoke }, null, 2));
    else {
      console.log(`model  ${model}  ${lm.config.architecture}, vocab ${lm.config.vocabSize}; runtime ${o.runtime}, window ${window}`);
      console.log(`generation smoke  ${smokeLine(smoke, lm.eosTokenIds)}`);
      for (const r of results)
        console.log(
          `${r.suite}  [${r.hash.slice(0, 12)}… ${r.pinned ? 'pinned' : 'UNPINNED'}; ${r.tokens} tokens, ${r.bytes} bytes]  ` +
            `perplexity ${fmt(r.perplexity)}  bitsPerByte ${fmt(r.bitsPerByte)}  nll ${fmt(r.nll / r.tokens)}  ` +
            `ece ${fmt(r.ece)} (${bins} bins)  top1Accuracy ${fmt(r.top1Accuracy)}`,
        );
    }
    if (!smoke.passed) throw new CliError(`generation smoke failed: ${smokeLine(smoke, lm.eosTokenIds)}`);
    return results;
  });
}

function smokeLine(s: GenerationSmoke, eos: readonly number[]): string {
  return (
    `${s.passed ? 'passed' : 'FAILED'}: ${s.finite ? 'logits finite' : `${s.nonFinite} non-finite logits`}; ` +
    `EOS ${eos.length ? `[${eos.join(', ')}]` : '(none declared)'} ${s.eosReachable ? 'reachable' : 'unreachable'} ` +
    `(max p ${s.eosMaxProbability.toExponential(2)}); ${s.steps}/${s.maxNew} tokens, stop ${s.stop}, ` +
    `length limit ${s.lengthLimitHonoured ? 'honoured' : 'NOT honoured'}`
  );
}

/** Open a causal LM (HF folder or .slm), run `body` with its decoder (ONNX or the CPU reference), then release both. */
export async function withLmDecoder<T>(
  model: string,
  runtime: 'onnx' | 'reference',
  body: (lm: HfLm, decoder: CausalDecoder) => Promise<T>,
): Promise<T> {
  const { lm, close } = await openHfLm(model);
  let decoder: CausalDecoder | undefined;
  try {
    decoder = await hfLmDecoder(lm, await loadTensors(lm.model), runtime);
    return await body(lm, decoder);
  } finally {
    await decoder?.release();
    await close();
  }
}
