import { describe, expect, it } from 'vitest';
import { mlpForward, mlpFromTensors, mlpToTensors } from '../models/mlp.ts';
import { sha256Hex } from '../hash.ts';
import { mulberry32 } from '../seeded.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import { parseSafetensors, serializeSafetensors } from '../format/safetensors.ts';
import { fromFloat32 } from '../tensor.ts';
import { initAdapter, loraScaling, mergeAdapter, type Adapter, type LoraConfig } from './lora.ts';
import { exportPeft, importPeft, PeftError } from './peft.ts';
import { adapterParams, mlpAdapterLoss, mlpSites, trainMlpAdapter } from './mlp.ts';
import { Tape } from './tape.ts';

function toyMlp(seed: number, inputs = 6, hidden = 5, classes = 3): Tensor[] {
  const r = mulberry32(seed);
  const f = (n: number) => Float32Array.from({ length: n }, () => r() - 0.5);
  return mlpToTensors({
    shape: { inputs, hidden, classes },
    w1: f(inputs * hidden),
    b1: f(hidden),
    w2: f(hidden * classes),
    b2: f(classes),
  });
}

const CONFIG: LoraConfig = {
  r: 2,
  alpha: 4,
  dropout: 0,
  targetModules: ['fc1', 'fc2'],
  modulesToSave: [],
  useRslora: false,
  fanInFanOut: true,
  baseModel: 'toy.slm',
  taskType: null,
};

/** Rows of a toy task: the class is the argmax of three fixed input features. */
function toyData(n: number, seed: number, inputs = 6): { x: Float32Array; y: Int32Array } {
  const r = mulberry32(seed);
  const x = Float32Array.from({ length: n * inputs }, () => r());
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = [x[i * inputs], x[i * inputs + 2], x[i * inputs + 4]];
    y[i] = v.indexOf(Math.max(...v));
  }
  return { x, y };
}

function randomise(a: Adapter, seed: number): Adapter {
  const r = mulberry32(seed);
  for (const p of a.lora.values()) for (let i = 0; i < p.b.length; i++) p.b[i] = r() - 0.5;
  return a;
}

describe('LoRA on the MLP species', () => {
  const base = toyMlp(1);
  const sites = mlpSites(base);
  const byName = new Map(base.map((t) => [t.name, t]));

  it('a fresh adapter (B = 0) merges to the base, byte for byte', () => {
    const a = initAdapter(CONFIG, sites, byName, 7);
    expect(a.lora.get('fc1')!.a.some((v) => v !== 0)).toBe(true);
    mergeAdapter(base, a).forEach((t, i) => expect(sha256Hex(t.data)).toBe(sha256Hex(base[i].data)));
  });

  it('the tape forward with LoRA beside the layers equals the CPU forward of the merged weights', () => {
    const a = randomise(initAdapter(CONFIG, sites, byName, 7), 3);
    const { x, y } = toyData(8, 4);
    const merged = mlpFromTensors(mergeAdapter(base, a));
    const logits = mlpForward(merged, x, 8);
    let expected = 0;
    for (let r = 0; r < 8; r++) {
      const z = [...logits.subarray(r * 3, r * 3 + 3)];
      const m = Math.max(...z);
      expected += Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) + m - z[y[r]];
    }
    const tape = new Tape('f32');
    const values = new Map(adapterParams(a).map((p) => [p.name, tape.param(p.data, p.rows, p.cols, p.name)]));
    const f32 = new Map(base.map((t) => [t.name, Float32Array.from(toFloat32(t))]));
    const loss = mlpAdapterLoss(
      tape,
      f32,
      sites,
      a,
      values,
      x,
      y,
      Uint32Array.from({ length: 8 }, (_, i) => i),
      0,
      1,
    );
    expect(loss.data[0]).toBeCloseTo(expected / 8, 5);
  });

  it('merge adds (alpha/r)·(B·A)ᵀ to a [in, out] weight', () => {
    const a = randomise(initAdapter({ ...CONFIG, targetModules: ['fc1'] }, sites, byName, 7), 3);
    const p = a.lora.get('fc1')!;
    const w = toFloat32(mergeAdapter(base, a)[0]);
    const w0 = toFloat32(base[0]);
    const s = loraScaling(CONFIG);
    expect(s).toBe(2);
    // element (i, o) of the [in, out] tensor: Σ_k B[o,k]·A[k,i]
    const i = 4;
    const o = 3;
    const d = s * (p.b[o * 2] * p.a[i] + p.b[o * 2 + 1] * p.a[6 + i]);
    expect(w[i * 5 + o]).toBeCloseTo(w0[i * 5 + o] + d, 6);
  });

  it('training lowers the loss and learns the task; the same seed gives the same bytes', () => {
    const { x, y } = toyData(64, 5);
    const run = (seed: number) => {
      const a = initAdapter({ ...CONFIG, dropout: 0.1 }, sites, byName, seed);
      const losses = trainMlpAdapter(base, a, x, y, {
        steps: 150,
        batch: 16,
        seed,
        schedule: { kind: 'cosine', lr: 0.05, warmupSteps: 10 },
      });
      return { a, losses };
    };
    const one = run(11);
    const first = one.losses.slice(0, 10).reduce((s, r) => s + r.loss, 0) / 10;
    const last = one.losses.slice(-10).reduce((s, r) => s + r.loss, 0) / 10;
    expect(last).toBeLessThan(first * 0.75);
    const again = run(11);
    expect(sha256Hex(exportPeft(again.a).weights)).toBe(sha256Hex(exportPeft(one.a).weights));
    expect(sha256Hex(exportPeft(run(12).a).weights)).not.toBe(sha256Hex(exportPeft(one.a).weights));
  });

  it('a run whose loss stops being finite stops with the step and learning rate, before touching more weights', () => {
    const { x, y } = toyData(16, 8);
    const a = initAdapter(CONFIG, sites, byName, 1);
    // A learning rate of 1e35 overflows float32 products after the first update.
    expect(() =>
      trainMlpAdapter(base, randomise(a, 2), x, y, {
        steps: 5,
        batch: 4,
        seed: 1,
        schedule: { kind: 'constant', lr: 1e35, warmupSteps: 0 },
      }),
    ).toThrow(/the loss is (NaN|Infinity) at step [1-4] \(learning rate 1e\+35\); lower lr/);
  });

  it('a new classifier head (modules_to_save) trains while the base tensors stay untouched', () => {
    const { x, y } = toyData(32, 6);
    const a = initAdapter({ ...CONFIG, targetModules: ['fc1'], modulesToSave: ['fc2'] }, sites, byName, 2);
    const before = sha256Hex(a.saved.get('fc2.weight')!.data);
    trainMlpAdapter(base, a, x, y, { steps: 20, batch: 8, seed: 1, schedule: { kind: 'constant', lr: 0.01, warmupSteps: 0 } });
    expect(sha256Hex(a.saved.get('fc2.weight')!.data)).not.toBe(before);
    expect(sha256Hex(byName.get('fc2.weight')!.data)).toBe(before);
    const merged = mergeAdapter(base, a);
    expect(sha256Hex(merged.find((t) => t.name === 'fc2.weight')!.data)).toBe(sha256Hex(a.saved.get('fc2.weight')!.data));
  });
});

describe("PEFT's format", () => {
  const base = toyMlp(1);
  const sites = mlpSites(base);
  const byName = new Map(base.map((t) => [t.name, t]));

  it("export writes PEFT's names, shapes and config fields; import gives the same adapter back", () => {
    const a = randomise(initAdapter({ ...CONFIG, modulesToSave: ['fc2'], targetModules: ['fc1'] }, sites, byName, 7), 3);
    a.species = 'ab'.repeat(32);
    const files = exportPeft(a);
    const { metadata, tensors } = parseSafetensors(files.weights);
    expect(metadata).toEqual({ format: 'pt', 'garden.species': 'ab'.repeat(32) });
    expect(tensors.map((t) => `${t.name} [${t.shape}]`).sort()).toEqual([
      'base_model.model.fc1.lora_A.weight [2,6]',
      'base_model.model.fc1.lora_B.weight [5,2]',
      'base_model.model.fc2.bias [3]',
      'base_model.model.fc2.weight [5,3]',
    ]);
    const cfg = JSON.parse(files.config);
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      r: 2,
      lora_alpha: 4,
      lora_dropout: 0,
      target_modules: ['fc1'],
      modules_to_save: ['fc2'],
      fan_in_fan_out: true,
      bias: 'none',
      base_model_name_or_path: 'toy.slm',
      use_rslora: false,
      use_dora: false,
    });
    const back = importPeft(files, sites, byName);
    expect(exportPeft(back).weights).toEqual(files.weights);
    expect(back.config).toEqual(a.config);
  });

  it('imports an adapter written the way PEFT writes one and merges W + (alpha/r)·(B·A)ᵀ', () => {
    // As save_pretrained would write a rank-1 LoRA on fc2 (hidden 5 → classes 3), alpha 3.
    const A = Float32Array.from([1, 2, 3, 4, 5]);
    const B = Float32Array.from([1, 0, -1]);
    const weights = serializeSafetensors(
      [fromFloat32('base_model.model.fc2.lora_A.weight', [1, 5], A), fromFloat32('base_model.model.fc2.lora_B.weight', [3, 1], B)],
      { format: 'pt' },
    );
    const config = JSON.stringify({
      peft_type: 'LORA',
      r: 1,
      lora_alpha: 3,
      lora_dropout: 0.05,
      target_modules: ['fc2'],
      fan_in_fan_out: true,
      bias: 'none',
      task_type: null,
      base_model_name_or_path: 'x',
      modules_to_save: null,
      rank_pattern: {},
      alpha_pattern: {},
    });
    const a = importPeft({ config, weights }, sites, byName);
    const w = toFloat32(mergeAdapter(base, a).find((t) => t.name === 'fc2.weight')!);
    const w0 = toFloat32(byName.get('fc2.weight')!);
    for (let i = 0; i < 5; i++) for (let o = 0; o < 3; o++) expect(w[i * 3 + o]).toBeCloseTo(w0[i * 3 + o] + 3 * B[o] * A[i], 5);
  });

  it('fan_in_fan_out describes the wrapped base, not A and B: an adapter made on an nn.Linear copy merges the same', () => {
    const a = randomise(initAdapter(CONFIG, sites, byName, 7), 3);
    const files = exportPeft(a);
    const linear = JSON.stringify({ ...JSON.parse(files.config), fan_in_fan_out: false });
    const b = importPeft({ config: linear, weights: files.weights }, sites, byName);
    mergeAdapter(base, b).forEach((t, i) => expect(sha256Hex(t.data)).toBe(sha256Hex(mergeAdapter(base, a)[i].data)));
  });

  it('refuses what it cannot apply, naming the field or tensor', () => {
    const good = exportPeft(randomise(initAdapter(CONFIG, sites, byName, 7), 3));
    const cfg = JSON.parse(good.config);
    const bad = (patch: object) => () => importPeft({ config: JSON.stringify({ ...cfg, ...patch }), weights: good.weights }, sites, byName);
    expect(bad({ peft_type: 'IA3' })).toThrow(/only "LORA"/);
    expect(bad({ use_dora: true })).toThrow(/DoRA/);
    expect(bad({ rank_pattern: { fc1: 4 } })).toThrow(/rank_pattern/);
    expect(bad({ r: 3 })).toThrow(/rank 2, the config says r = 3/);
    const stray = serializeSafetensors([fromFloat32('base_model.model.fc3.lora_A.weight', [1, 5], new Float32Array(5))]);
    expect(() => importPeft({ config: good.config, weights: stray }, sites, byName)).toThrow(PeftError);
    expect(() => importPeft({ config: good.config, weights: stray }, sites, byName)).toThrow(/fc3.*not a linear layer/);
  });
});
