/**
 * A synthetic model shaped like GPT-2 small (the 124 M-parameter transformer OPT-125m also
 * matches in size): the same tensor names and shapes, seeded random weights. Parents are
 * fine-tunes of one base: the embeddings and layer norms are frozen (identical to the base, so
 * content addressing stores them once) and every block matrix and bias carries its own delta.
 */
import { SeededStream } from './common.ts';

export interface ModelShape {
  name: string;
  layers: number;
  dModel: number;
  vocab: number;
  context: number;
}

export const GPT2_SMALL: ModelShape = {
  name: 'GPT-2-small-shaped (124 M parameters)',
  layers: 12,
  dModel: 768,
  vocab: 50257,
  context: 1024,
};
/** The smoke run's model: GPT-2's names at a toy size. */
export const GPT2_TOY: ModelShape = { name: 'GPT-2-shaped toy (2 layers, d=64)', layers: 2, dModel: 64, vocab: 1000, context: 128 };

export interface TensorSpec {
  name: string;
  shape: number[];
  /** Frozen tensors are the same in every parent (a fine-tune that left them alone). */
  frozen: boolean;
}

export function modelTensors(m: ModelShape): TensorSpec[] {
  const d = m.dModel;
  const t: TensorSpec[] = [
    { name: 'wte.weight', shape: [m.vocab, d], frozen: true },
    { name: 'wpe.weight', shape: [m.context, d], frozen: true },
  ];
  for (let i = 0; i < m.layers; i++) {
    const h = `h.${i}.`;
    t.push(
      { name: `${h}ln_1.weight`, shape: [d], frozen: true },
      { name: `${h}ln_1.bias`, shape: [d], frozen: true },
      { name: `${h}attn.c_attn.weight`, shape: [d, 3 * d], frozen: false },
      { name: `${h}attn.c_attn.bias`, shape: [3 * d], frozen: false },
      { name: `${h}attn.c_proj.weight`, shape: [d, d], frozen: false },
      { name: `${h}attn.c_proj.bias`, shape: [d], frozen: false },
      { name: `${h}ln_2.weight`, shape: [d], frozen: true },
      { name: `${h}ln_2.bias`, shape: [d], frozen: true },
      { name: `${h}mlp.c_fc.weight`, shape: [d, 4 * d], frozen: false },
      { name: `${h}mlp.c_fc.bias`, shape: [4 * d], frozen: false },
      { name: `${h}mlp.c_proj.weight`, shape: [4 * d, d], frozen: false },
      { name: `${h}mlp.c_proj.bias`, shape: [d], frozen: false },
    );
  }
  t.push({ name: 'ln_f.weight', shape: [d], frozen: true }, { name: 'ln_f.bias', shape: [d], frozen: true });
  return t;
}

/**
 * The values of one tensor of one model (0 = the base, 1… = fine-tunes), generated chunk by
 * chunk: each call fills the next `into.length` elements. The same values whatever the chunking.
 */
export function tensorStream(spec: TensorSpec, parent: number): (into: Float32Array) => Float32Array {
  const ln = spec.name.includes('ln_');
  const one = ln && spec.name.endsWith('.weight');
  const base = new SeededStream(nameSeed(spec.name, 1), ln ? 0.1 : 0.02);
  const delta = parent > 0 && !spec.frozen ? new SeededStream(nameSeed(spec.name, 100 + parent), 0.002) : null;
  let scratch = new Float32Array(0);
  return (x) => {
    base.fill(x);
    if (one) for (let i = 0; i < x.length; i++) x[i] += 1;
    if (delta) {
      if (scratch.length < x.length) scratch = new Float32Array(x.length);
      const d = delta.fill(scratch.subarray(0, x.length));
      for (let i = 0; i < x.length; i++) x[i] += d[i];
    }
    return x;
  };
}

export const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** FNV-1a of a name: the per-tensor seed. */
export function nameSeed(name: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
