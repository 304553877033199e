/**
 * llamaTrainingRun's engine hook: the CPU tape by default, or the steps an engine gives (the app's
 * worker gives WebGPU's, src/gpu/train/run.ts llamaAdapterEngine). The run must take its steps
 * from the engine, name it in the manifest as it stands at the end (a GPU that hands over to the
 * CPU renames itself mid-run), and close it, also when the run stops early or is abandoned.
 */
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../hash.ts';
import { parseCausalLmConfig } from '../models/llama-config.ts';
import { tinyCheckpoint } from '../models/llama-testing.ts';
import { llamaAdapterSteps } from './llama.ts';
import type { StepReport } from './loop.ts';
import { CPU_ENGINE } from './run.ts';
import { llamaTrainingRun, runLlamaTraining, type LlamaRunInputs, type LlamaStepEngine } from './run-llama.ts';
import { parseSpec } from './spec.ts';

const ck = tinyCheckpoint({ seed: 5, kvHeads: 2, heads: 4 });
const config = parseCausalLmConfig(ck.config);
const vocab = config.vocabSize;
const prose = 'the whale went under the sea and the ship went on over it, ';

function inputs(over: Record<string, unknown> = {}): LlamaRunInputs {
  const spec = parseSpec(
    JSON.stringify({
      base: 'tiny',
      data: { train: 'a.txt' },
      text: { seq_len: 8, validation_split: 0.25, eval_every: 2, patience: 0 },
      adapter: { r: 2, lora_alpha: 4, lora_dropout: 0, target_modules: ['q_proj', 'v_proj'] },
      train: { steps: 6, batch: 2, lr: 0.01, seed: 3 },
      ...over,
    }),
  );
  const text = prose.repeat(8);
  return {
    spec,
    base: { name: 'tiny', hash: sha256Hex(new Uint8Array(1)), species: sha256Hex(new Uint8Array(2)), config, tensors: ck.tensors },
    tokenize: (s) => Array.from(new TextEncoder().encode(s), (b) => b % vocab),
    train: [{ name: 'a.txt', text, hash: sha256Hex(new TextEncoder().encode(text)) }],
    validation: [],
    suiteTexts: [],
  };
}

describe('llamaTrainingRun takes its steps from the engine it is given', () => {
  it('by default the CPU tape, named in the manifest', async () => {
    const r = await runLlamaTraining(inputs());
    expect(r.engine).toEqual({ kind: 'cpu', engine: CPU_ENGINE });
    expect(r.manifest.engine).toBe(CPU_ENGINE);
    expect(r.steps).toHaveLength(6);
  });

  it("an engine's steps are the run's; the manifest names the engine as it ends; the engine is closed", async () => {
    const plain = await runLlamaTraining(inputs());
    let closed = 0;
    let given: { tokens: number; seqLen: number } | undefined;
    const r = await runLlamaTraining({
      ...inputs(),
      engine: async (adapter, tokens, seqLen, opts) => {
        given = { tokens: tokens.length, seqLen };
        const e: LlamaStepEngine = { kind: 'webgpu', engine: 'test GPU', steps: [], close: () => closed++ };
        // The same steps as the CPU's, with a hand-over after the third (as withFallback renames itself).
        e.steps = (async function* (): AsyncGenerator<StepReport> {
          for (const s of llamaAdapterSteps(config, ck.tensors, adapter, tokens, seqLen, opts)) {
            yield s;
            if (s.step === 2) Object.assign(e, { kind: 'cpu', engine: 'test GPU for steps 1–3, then the CPU' });
          }
        })();
        return e;
      },
    });
    expect(given).toEqual({ tokens: (plain.manifest.data as { trainWindows: number }).trainWindows * 8, seqLen: 8 });
    expect(r.engine).toEqual({ kind: 'cpu', engine: 'test GPU for steps 1–3, then the CPU' });
    expect(r.manifest.engine).toBe('test GPU for steps 1–3, then the CPU');
    expect(closed).toBe(1);
    // The same steps, so the same losses and the same adapter bytes.
    expect(r.steps.map((s) => s.loss)).toEqual(plain.steps.map((s) => s.loss));
    expect(sha256Hex(r.files.weights)).toBe(sha256Hex(plain.files.weights));
  });

  it('an engine is closed when the caller abandons the run mid-way', async () => {
    let closed = 0;
    const run = llamaTrainingRun({
      ...inputs(),
      engine: async (adapter, tokens, seqLen, opts) => ({
        kind: 'cpu',
        engine: 'counting',
        steps: llamaAdapterSteps(config, ck.tensors, adapter, tokens, seqLen, opts),
        close: () => closed++,
      }),
    });
    for (;;) {
      const e = await run.next();
      if (e.done || (e.value.kind === 'step' && e.value.report.step === 1)) break;
    }
    await run.return(undefined as never);
    expect(closed).toBe(1);
  });
});
