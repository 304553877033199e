import { describe, expect, it } from 'vitest';
import { LlamaReference, llamaWeights } from '../models/llama.ts';
import { parseCausalLmConfig } from '../models/llama-config.ts';
import { tinyCheckpoint, type TinyCheckpointOptions } from '../models/llama-testing.ts';
import { mulberry32 } from '../seeded.ts';
import { sha256Hex } from '../hash.ts';
import { toFloat32 } from '../tensor.ts';
import { initAdapter, mergeAdapter, type LoraConfig } from './lora.ts';
import { adapterParams } from './mlp.ts';
import { frozenModel, llamaLogits, llamaLoss, llamaSites, trainLlamaAdapter } from './llama.ts';
import { exportPeft } from './peft.ts';
import { Tape, type Value } from './tape.ts';
import { gradCheck } from './test-helpers.ts';

function setup(o: TinyCheckpointOptions) {
  const ck = tinyCheckpoint(o);
  const config = parseCausalLmConfig(ck.config);
  const f32 = new Map(ck.tensors.map((t) => [t.name, Float32Array.from(toFloat32(t))]));
  const shapes = new Map(ck.tensors.map((t) => [t.name, t.shape]));
  return { ck, config, f32, shapes };
}

const LORA: LoraConfig = {
  r: 2,
  alpha: 4,
  dropout: 0,
  targetModules: ['q_proj', 'v_proj', 'down_proj'],
  modulesToSave: [],
  useRslora: false,
  fanInFanOut: false,
  baseModel: 'tiny',
  taskType: 'CAUSAL_LM',
};

describe('the Llama family on the training tape', () => {
  const variants: [string, TinyCheckpointOptions][] = [
    ['Llama, GQA, separate head', { kvHeads: 2, heads: 4 }],
    ['Llama, tied head, llama3 rope, attention bias', { tied: true, llama3Rope: true, attentionBias: true }],
    ['Mistral, sliding window 3', { architecture: 'MistralForCausalLM', slidingWindow: 3, kvHeads: 1 }],
    ['Qwen2 (qkv biases)', { architecture: 'Qwen2ForCausalLM' }],
  ];
  for (const [name, o] of variants) {
    it(`${name}: logits equal the inference oracle's (src/core/models/llama.ts)`, () => {
      const { ck, config, f32, shapes } = setup({ ...o, seed: 3 });
      const ids = [0, 5, 17, 3, 40, 22, 9];
      const want = new LlamaReference(config, llamaWeights(ck.tensors)).forward(ids);
      const tape = new Tape('f32');
      const got = llamaLogits(frozenModel(tape, config, f32, shapes), ids, 1, ids.length);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - want[i]));
      expect(worst).toBeLessThan(2e-5);
    });
  }

  it('a batch of two sequences gives each sequence its own logits', () => {
    const { config, f32, shapes } = setup({ seed: 4 });
    const a = [1, 2, 3, 4];
    const b = [9, 8, 7, 6];
    const t = new Tape('f32');
    const both = llamaLogits(frozenModel(t, config, f32, shapes), [...a, ...b], 2, 4);
    const one = llamaLogits(frozenModel(t, config, f32, shapes), b, 1, 4);
    const V = config.vocabSize;
    for (let i = 0; i < 4 * V; i++) expect(both.data[4 * V + i]).toBeCloseTo(one.data[i], 6);
  });

  it('the gradient of the whole next-token loss agrees with finite differences (float64; LoRA on v_proj, a norm, o_proj)', () => {
    const { ck, config } = setup({ seed: 5, hidden: 8, heads: 2, kvHeads: 1, intermediate: 6, layers: 1 });
    const f64 = new Map(ck.tensors.map((t) => [t.name, Float64Array.from(toFloat32(t))]));
    const rnd = mulberry32(2);
    const la = Float64Array.from({ length: 2 * 8 }, () => rnd() - 0.5);
    const lb = Float64Array.from({ length: 4 * 2 }, () => rnd() - 0.5);
    const checked = ['model.layers.0.input_layernorm.weight', 'model.layers.0.self_attn.o_proj.weight'];
    const adapter = initAdapter({ ...LORA, targetModules: ['v_proj'] }, llamaSites(config), new Map(), 1);
    const ids = [3, 7, 1, 4, 7];
    const r = gradCheck(
      [
        { data: la, rows: 2, cols: 8 },
        { data: lb, rows: 4, cols: 2 },
        ...checked.map((n) => ({ data: f64.get(n)!.slice(), rows: n.endsWith('norm.weight') ? 1 : 8, cols: 8 })),
      ],
      (vs: Value[]) => {
        const tape = vs[0].tape;
        const trained = new Map(checked.map((n, k) => [n, vs[2 + k]]));
        const model = {
          config,
          has: (n: string) => f64.has(n),
          weight: (n: string) =>
            trained.get(n) ??
            tape.constant(
              f64.get(n)!,
              ck.tensors.find((t) => t.name === n)!.shape[0],
              ck.tensors.find((t) => t.name === n)!.shape[1] ?? 1,
              n,
            ),
          adapter,
          lora: new Map([
            ['model.layers.0.self_attn.v_proj.lora_A', vs[0]],
            ['model.layers.0.self_attn.v_proj.lora_B', vs[1]],
          ]),
        };
        return llamaLoss(model, ids, 1, ids.length);
      },
    );
    expect(r.checked).toBe(16 + 8 + 8 + 64);
    expect(r.worst, r.where).toBeLessThan(1e-7);
  });

  it('a LoRA on q, v and down lowers the loss of a repeated text, merges into [out, in] weights (fan_in_fan_out false), and repeats to the byte', () => {
    const { ck, config, f32, shapes } = setup({ seed: 6 });
    const text = Array.from({ length: 96 }, (_, i) => [5, 9, 13, 21, 34, 8][i % 6]);
    const run = () => {
      const adapter = initAdapter({ ...LORA, dropout: 0.05 }, llamaSites(config), new Map(), 7);
      const steps = trainLlamaAdapter(config, ck.tensors, adapter, text, 12, {
        steps: 40,
        batch: 4,
        seed: 3,
        schedule: { kind: 'cosine', lr: 0.02, warmupSteps: 4 },
      });
      return { adapter, steps };
    };
    const { adapter, steps } = run();
    expect(adapter.lora.size).toBe(3 * config.numLayers);
    expect(steps[steps.length - 1].loss).toBeLessThan(steps[0].loss * 0.5);
    // The merged weights give the logits of base + LoRA on the tape.
    const ids = text.slice(0, 12);
    const tape = new Tape('f32');
    const values = new Map(adapterParams(adapter).map((p) => [p.name, tape.param(p.data, p.rows, p.cols, p.name)]));
    const withLora = llamaLogits({ ...frozenModel(tape, config, f32, shapes), adapter, lora: values }, ids, 1, 12);
    const merged = mergeAdapter(ck.tensors, adapter);
    const ref = new LlamaReference(config, llamaWeights(merged)).forward(ids);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(withLora.data[i] - ref[i]));
    expect(worst).toBeLessThan(1e-4);
    expect(sha256Hex(exportPeft(run().adapter).weights)).toBe(sha256Hex(exportPeft(adapter).weights));
  });
});
