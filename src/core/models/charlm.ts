/**
 * The TEXT family's species: a character-level language model with a fixed context window.
 * ids [N, k] (int32) → Gather(embed.weight [V, E]) → [N, k, E] → Reshape [N, k·E] →
 * MatMul fc1.weight [k·E, H] → Add fc1.bias → Relu → MatMul fc2.weight [H, V] → Add fc2.bias → logits [N, V].
 *
 * One shared character set for every model of the family (the species' vocabulary), a text
 * normaliser, a CPU forward pass, and seeded sampling of a continuation over any run function.
 */
import { buildOnnxGraph, type GraphSpec } from './onnx-graph.ts';
import { randomUnit, tensorKey } from '../operators/prng.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';

/** Index = token id. Id 0 is the space, which also pads contexts shorter than k. */
export const CHARSET: readonly string[] = Object.freeze([' ', ...'abcdefghijklmnopqrstuvwxyz', ...'0123456789', ...'.,;:!?\'"-()$%']);
const CHAR_ID = new Map(CHARSET.map((c, i) => [c, i]));

/** Lower-case, fold quotes and dashes, turn every whitespace run into one space, drop other characters. */
export function normalizeText(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc`]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/\s+/g, ' ');
  let out = '';
  for (const ch of s) if (CHAR_ID.has(ch)) out += ch;
  return out.replace(/ {2,}/g, ' ');
}

export function encodeText(text: string): Uint8Array {
  const s = normalizeText(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = CHAR_ID.get(s[i])!;
  return out;
}

export function decodeIds(ids: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < ids.length; i++) {
    const c = CHARSET[ids[i]];
    if (c === undefined) throw new Error(`token id ${ids[i]} is outside the character set (0..${CHARSET.length - 1})`);
    s += c;
  }
  return s;
}

/** The last k ids of `ids` ending before position `end` (space-padded on the left). */
export function contextAt(
  ids: ArrayLike<number>,
  end: number,
  k: number,
  out: Int32Array | Float32Array = new Int32Array(k),
): Int32Array | Float32Array {
  for (let j = 0; j < k; j++) {
    const p = end - k + j;
    out[j] = p >= 0 ? ids[p] : 0;
  }
  return out;
}

export interface CharLmShape {
  context: number;
  embed: number;
  hidden: number;
  vocab: number;
}

export const CHARLM_INPUT = 'ids';
export const CHARLM_OUTPUT = 'logits';

export function charLmTensorSpecs(s: CharLmShape): { name: string; shape: number[] }[] {
  return [
    { name: 'embed.weight', shape: [s.vocab, s.embed] },
    { name: 'fc1.weight', shape: [s.context * s.embed, s.hidden] },
    { name: 'fc1.bias', shape: [s.hidden] },
    { name: 'fc2.weight', shape: [s.hidden, s.vocab] },
    { name: 'fc2.bias', shape: [s.vocab] },
  ];
}

export function charLmGraphSpec(s: CharLmShape, name: string): GraphSpec {
  return {
    name,
    docString: `${name}: character LM, context ${s.context}, embedding ${s.embed}, hidden ${s.hidden} (ReLU), vocabulary ${s.vocab}; weights are external data named by tensor`,
    inputs: [{ name: CHARLM_INPUT, type: 'int32', shape: ['N', s.context] }],
    outputs: [{ name: CHARLM_OUTPUT, type: 'float32', shape: ['N', s.vocab] }],
    weights: charLmTensorSpecs(s).map((t) => ({ ...t, dtype: 'F32' as const })),
    constants: [{ name: 'flat_shape', type: 'int64', shape: [2], values: [-1, s.context * s.embed] }],
    nodes: [
      { op: 'Gather', inputs: ['embed.weight', CHARLM_INPUT], outputs: ['emb'], attributes: { axis: 0 } },
      { op: 'Reshape', inputs: ['emb', 'flat_shape'], outputs: ['flat'] },
      { op: 'MatMul', inputs: ['flat', 'fc1.weight'], outputs: ['h1'] },
      { op: 'Add', inputs: ['h1', 'fc1.bias'], outputs: ['h1b'] },
      { op: 'Relu', inputs: ['h1b'], outputs: ['h1r'] },
      { op: 'MatMul', inputs: ['h1r', 'fc2.weight'], outputs: ['h2'] },
      { op: 'Add', inputs: ['h2', 'fc2.bias'], outputs: [CHARLM_OUTPUT] },
    ],
  };
}

export function charLmGraph(s: CharLmShape, name: string): Uint8Array {
  return buildOnnxGraph(charLmGraphSpec(s, name));
}

export interface CharLmParams {
  shape: CharLmShape;
  emb: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

export function charLmToTensors(p: CharLmParams): Tensor[] {
  const s = p.shape;
  return [
    fromFloat32('embed.weight', [s.vocab, s.embed], p.emb),
    fromFloat32('fc1.weight', [s.context * s.embed, s.hidden], p.w1),
    fromFloat32('fc1.bias', [s.hidden], p.b1),
    fromFloat32('fc2.weight', [s.hidden, s.vocab], p.w2),
    fromFloat32('fc2.bias', [s.vocab], p.b2),
  ];
}

export function charLmFromTensors(tensors: readonly Tensor[]): CharLmParams {
  const by = new Map(tensors.map((t) => [t.name, t]));
  const get = (n: string) => {
    const t = by.get(n);
    if (!t) throw new Error(`character LM has no tensor "${n}"; has: ${[...by.keys()].join(', ')}`);
    return t;
  };
  const emb = get('embed.weight');
  const w1 = get('fc1.weight');
  const w2 = get('fc2.weight');
  const shape = { vocab: emb.shape[0], embed: emb.shape[1], context: w1.shape[0] / emb.shape[1], hidden: w1.shape[1] };
  if (!Number.isInteger(shape.context))
    throw new Error(`fc1.weight has ${w1.shape[0]} rows, not a multiple of the embedding size ${shape.embed}`);
  if (w2.shape[0] !== shape.hidden || w2.shape[1] !== shape.vocab)
    throw new Error(`fc2.weight is [${w2.shape}], expected [${shape.hidden},${shape.vocab}]`);
  const f = (t: Tensor) => Float32Array.from(toFloat32(t));
  return { shape, emb: f(emb), w1: f(w1), b1: f(get('fc1.bias')), w2: f(w2), b2: f(get('fc2.bias')) };
}

/**
 * CPU forward pass: ids [batch, context] → logits [batch, vocab]. Fills `flatOut` (the
 * concatenated embeddings) and `hiddenOut` (post-ReLU) when given; training uses them.
 */
export function charLmForward(
  p: CharLmParams,
  ids: ArrayLike<number>,
  batch: number,
  flatOut?: Float32Array,
  hiddenOut?: Float32Array,
): Float32Array {
  const { context: K, embed: E, hidden: H, vocab: V } = p.shape;
  const D = K * E;
  const flat = flatOut ?? new Float32Array(batch * D);
  const h = hiddenOut ?? new Float32Array(batch * H);
  const out = new Float32Array(batch * V);
  for (let n = 0; n < batch; n++) {
    for (let j = 0; j < K; j++) {
      const id = ids[n * K + j];
      if (!(id >= 0 && id < V)) throw new Error(`token id ${id} is outside 0..${V - 1}`);
      flat.set(p.emb.subarray(id * E, id * E + E), n * D + j * E);
    }
    const ho = n * H;
    for (let m = 0; m < H; m++) h[ho + m] = p.b1[m];
    for (let i = 0; i < D; i++) {
      const xv = flat[n * D + i];
      const wo = i * H;
      for (let m = 0; m < H; m++) h[ho + m] += xv * p.w1[wo + m];
    }
    for (let m = 0; m < H; m++) if (h[ho + m] < 0) h[ho + m] = 0;
    const oo = n * V;
    for (let c = 0; c < V; c++) out[oo + c] = p.b2[c];
    for (let m = 0; m < H; m++) {
      const hv = h[ho + m];
      if (hv === 0) continue;
      const wo = m * V;
      for (let c = 0; c < V; c++) out[oo + c] += hv * p.w2[wo + c];
    }
  }
  return out;
}

/**
 * Sample a continuation of `prompt`, one character at a time, from any run function (CPU forward
 * or an onnxruntime session): softmax at `temperature`, draws from the counter-based generator
 * keyed by `seed`, so the same model, prompt and seed always give the same text.
 */
export async function sampleContinuation(
  run: (ids: Float32Array, batch: number) => Promise<Float32Array>,
  prompt: string,
  opts: { context: number; length: number; seed: number; temperature?: number },
): Promise<string> {
  const ids = Array.from(encodeText(prompt));
  const key = tensorKey(opts.seed, 'sample');
  const T = opts.temperature ?? 0.8;
  if (!(T > 0)) throw new Error(`temperature must be positive, got ${T}`);
  const ctx = new Float32Array(opts.context);
  let text = '';
  for (let step = 0; step < opts.length; step++) {
    contextAt(ids, ids.length, opts.context, ctx);
    const logits = await run(ctx, 1);
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v / T);
    const p = Array.from(logits, (v) => Math.exp(v / T - max));
    const sum = p.reduce((a, b) => a + b, 0);
    let u = randomUnit(key, step) * sum;
    let pick = p.length - 1;
    for (let c = 0; c < p.length; c++) {
      u -= p[c];
      if (u < 0) {
        pick = c;
        break;
      }
    }
    ids.push(pick);
    text += CHARSET[pick];
  }
  return text;
}
