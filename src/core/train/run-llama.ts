/**
 * One training run of a language-model adapter (a spec with "text", spec.ts TextSpec): a LoRA of a
 * Llama-family base trained on the user's text files, tokenized with the base's own tokenizer and
 * cut into windows of seq_len tokens, with a validation split, validation loss every eval_every
 * steps and an early stop after `patience` evaluations without a new best (the best adapter is
 * the one kept). The files are walled off from the suite texts first (text-wall.ts). The CLI and
 * the app only read and write files around it; the manifest keeps hashes and counts, never text.
 */
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import type { CausalLmConfig } from '../models/llama-config.ts';
import { mulberry32 } from '../seeded.ts';
import type { Tensor } from '../tensor.ts';
import { llamaAdapterSteps, llamaSites, llamaWindowLoss } from './llama.ts';
import { permutation, type LoopOptions, type StepReport } from './loop.ts';
import { initAdapter, type Adapter } from './lora.ts';
import { CPU_ENGINE, loopOptions } from './run.ts';
import { exportPeft, type PeftFiles } from './peft.ts';
import { SpecError, specLoraConfig, type TrainSpec } from './spec.ts';
import { refuseTextOverlap, type NamedText, type WallReport } from './text-wall.ts';

export interface TextFile extends NamedText {
  hash: Sha256Hex;
}

export interface LlamaRunInputs {
  spec: TrainSpec;
  base: { name: string; hash: Sha256Hex; species: Sha256Hex; config: CausalLmConfig; tensors: readonly Tensor[] };
  /** The base's tokenizer, with its special tokens (BOS) as it encodes a prompt. */
  tokenize(text: string): number[];
  train: readonly TextFile[];
  validation: readonly TextFile[];
  suiteTexts: readonly NamedText[];
  /**
   * Where the steps run: the CPU tape (core llamaAdapterSteps) unless the caller gives an engine
   * (the app's worker gives src/gpu/train/run.ts llamaAdapterEngine: WebGPU's kernels on a hardware
   * adapter, handing the run to the CPU if the GPU fails). The adapter must be current after each step.
   */
  engine?: (adapter: Adapter, tokens: Int32Array, seqLen: number, opts: LoopOptions) => Promise<LlamaStepEngine>;
}

/** A run's steps and the engine that takes them (`engine` in words; it may change mid-run, when a GPU hands over to the CPU). */
export interface LlamaStepEngine {
  kind: 'webgpu' | 'cpu';
  engine: string;
  steps: Iterable<StepReport> | AsyncIterable<StepReport>;
  close(): void;
}

export interface Evaluation {
  step: number;
  loss: number;
}

export interface LlamaRunResult {
  adapter: Adapter;
  files: PeftFiles;
  steps: StepReport[];
  evaluations: Evaluation[];
  /** The evaluation whose adapter was kept (the best validation loss); undefined without validation. */
  best?: Evaluation;
  stoppedEarly: boolean;
  validation?: { windows: number; baseLoss: number; adapterLoss: number };
  /** The engine that trained it, as its manifest names it. */
  engine: { kind: 'webgpu' | 'cpu'; engine: string };
  manifest: Record<string, unknown>;
}

const concat = (parts: readonly number[][]) => Int32Array.from(parts.flat());

/** Windows of seqLen cut from the stream, picked by index (consecutive, non-overlapping, as llama.ts cuts them). */
function pick(stream: Int32Array, seqLen: number, rows: ArrayLike<number>): Int32Array {
  const out = new Int32Array(rows.length * seqLen);
  for (let i = 0; i < rows.length; i++) out.set(stream.subarray(rows[i] * seqLen, (rows[i] + 1) * seqLen), i * seqLen);
  return out;
}

/** Training and validation token streams: validation files, else a seeded validation_split of the training windows. */
export function splitWindows(
  trainTokens: Int32Array,
  validationTokens: Int32Array | undefined,
  seqLen: number,
  split: number,
  seed: number,
): { train: Int32Array; validation?: Int32Array } {
  const n = Math.floor(trainTokens.length / seqLen);
  if (n < 1) throw new SpecError(`the training text gives ${trainTokens.length} tokens, not one window of seq_len ${seqLen}`);
  if (validationTokens) {
    if (validationTokens.length < seqLen)
      throw new SpecError(`the validation text gives ${validationTokens.length} tokens, not one window of seq_len ${seqLen}`);
    return { train: trainTokens.subarray(0, n * seqLen), validation: validationTokens };
  }
  if (split === 0) return { train: trainTokens.subarray(0, n * seqLen) };
  const held = Math.max(1, Math.round(split * n));
  if (held >= n) throw new SpecError(`validation_split ${split} of ${n} windows leaves none to train on`);
  const perm = permutation(n, mulberry32(seed ^ 0x5eed));
  const v = Array.from(perm.subarray(0, held)).sort((a, b) => a - b);
  const t = Array.from(perm.subarray(held)).sort((a, b) => a - b);
  return { train: pick(trainTokens, seqLen, t), validation: pick(trainTokens, seqLen, v) };
}

/** What a training run yields as it goes (llamaTrainingRun): the data set up, each step, each validation. */
export type LlamaRunEvent =
  | { kind: 'prepared'; trainWindows: number; validationWindows: number; wall: WallReport }
  | { kind: 'step'; report: StepReport }
  | { kind: 'evaluation'; evaluation: Evaluation; best: boolean; stopping: boolean };

/**
 * The run one event at a time (the app's worker pauses, cancels and reports between them;
 * runLlamaTraining drives it to the end): the wall, the split, then every step and evaluation;
 * it returns the result. Abandoning the generator abandons the run: nothing is written.
 */
export async function* llamaTrainingRun(inp: LlamaRunInputs): AsyncGenerator<LlamaRunEvent, LlamaRunResult, undefined> {
  const { spec, base } = inp;
  const text = spec.text;
  if (!text) throw new Error('runLlamaTraining takes a spec with "text"');
  const wall = refuseTextOverlap([...inp.train, ...inp.validation], inp.suiteTexts);
  const encode = (files: readonly TextFile[]) => files.map((f) => inp.tokenize(f.text));
  const trainParts = encode(inp.train);
  const validationParts = inp.validation.length ? encode(inp.validation) : undefined;
  const t = spec.train;
  const streams = splitWindows(concat(trainParts), validationParts && concat(validationParts), text.seqLen, text.validationSplit, t.seed);
  yield {
    kind: 'prepared',
    trainWindows: streams.train.length / text.seqLen,
    validationWindows: streams.validation ? Math.floor(streams.validation.length / text.seqLen) : 0,
    wall,
  };
  const adapter = initAdapter(
    specLoraConfig(spec.adapter, base.name, false, 'CAUSAL_LM'),
    llamaSites(base.config),
    new Map(base.tensors.map((x) => [x.name, x])),
    t.seed,
    base.species,
  );
  const opts = loopOptions(t);
  const engine: LlamaStepEngine = inp.engine
    ? await inp.engine(adapter, streams.train, text.seqLen, opts)
    : {
        kind: 'cpu',
        engine: CPU_ENGINE,
        steps: llamaAdapterSteps(base.config, base.tensors, adapter, streams.train, text.seqLen, opts),
        close: () => {},
      };
  const validate = (a: Adapter | undefined) => llamaWindowLoss(base.config, base.tensors, a, streams.validation!, text.seqLen, t.batch);
  const steps: StepReport[] = [];
  const evaluations: Evaluation[] = [];
  let best: { at: Evaluation; a: Float32Array[]; b: Float32Array[] } | undefined;
  let sinceBest = 0;
  let stoppedEarly = false;
  const evaluate = (step: number): LlamaRunEvent => {
    const e = { step, loss: validate(adapter) };
    evaluations.push(e);
    const isBest = !best || e.loss < best.at.loss;
    if (isBest) {
      const pairs = [...adapter.lora.values()];
      best = { at: e, a: pairs.map((p) => p.a.slice()), b: pairs.map((p) => p.b.slice()) };
      sinceBest = 0;
    } else sinceBest++;
    return { kind: 'evaluation', evaluation: e, best: isBest, stopping: text.patience > 0 && sinceBest >= text.patience };
  };
  try {
    for await (const r of engine.steps) {
      steps.push(r);
      yield { kind: 'step', report: r };
      const done = r.step + 1;
      if (!streams.validation || done === t.steps) continue;
      if (text.evalEvery > 0 && done % text.evalEvery === 0) {
        const ev = evaluate(done);
        yield ev;
        if (ev.kind === 'evaluation' && ev.stopping) {
          stoppedEarly = true;
          break;
        }
      }
    }
  } finally {
    engine.close();
  }
  if (streams.validation && !stoppedEarly) yield evaluate(steps.length);
  if (best) {
    // Keep the best evaluation's adapter (the last one unless the loss rose since).
    [...adapter.lora.values()].forEach((p, i) => {
      p.a.set(best!.a[i]);
      p.b.set(best!.b[i]);
    });
  }
  const files = exportPeft(adapter);
  const validation = streams.validation
    ? { windows: Math.floor(streams.validation.length / text.seqLen), baseLoss: validate(undefined), adapterLoss: best!.at.loss }
    : undefined;
  const fileInfo = (fs: readonly TextFile[], parts: number[][]) =>
    fs.map((f, i) => ({ file: f.name, sha256: f.hash, bytes: new TextEncoder().encode(f.text).length, tokens: parts[i].length }));
  const manifest = {
    kind: 'garden-training',
    version: 1,
    engine: engine.engine,
    task: 'causal-lm',
    base: { file: base.name, sha256: base.hash, species: base.species },
    data: {
      train: fileInfo(inp.train, trainParts),
      ...(validationParts ? { validation: fileInfo(inp.validation, validationParts) } : {}),
      seqLen: text.seqLen,
      trainWindows: streams.train.length / text.seqLen,
      validationWindows: streams.validation ? Math.floor(streams.validation.length / text.seqLen) : 0,
    },
    suiteTextsKeptApart: wall,
    adapter: spec.adapter,
    train: spec.train,
    text: { validationSplit: text.validationSplit, evalEvery: text.evalEvery, patience: text.patience },
    result: {
      steps: steps.length,
      stoppedEarly,
      firstLoss: steps[0].loss,
      lastLoss: steps[steps.length - 1].loss,
      evaluations,
      ...(best ? { keptStep: best.at.step } : {}),
      ...(validation ? { validation } : {}),
      adapterWeightsSha256: sha256Hex(files.weights),
    },
  };
  return {
    adapter,
    files,
    steps,
    evaluations,
    ...(best ? { best: best.at } : {}),
    stoppedEarly,
    ...(validation ? { validation } : {}),
    engine: { kind: engine.kind, engine: engine.engine },
    manifest,
  };
}

export async function runLlamaTraining(inp: LlamaRunInputs, onStep?: (r: StepReport) => void): Promise<LlamaRunResult> {
  const run = llamaTrainingRun(inp);
  for (;;) {
    const r = await run.next();
    if (r.done) return r.value;
    if (r.value.kind === 'step') onStep?.(r.value.report);
  }
}
