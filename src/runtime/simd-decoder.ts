/**
 * A Llama-family decoder (Llama, Mistral, Qwen2) on the CPU whose every linear layer is the
 * garden's own WebAssembly SIMD matvec (src/cpu/simd-matvec.ts): quantized weights ("W.q" I8 / I4
 * + "W.scales", quantize.cpu.ts) are read as stored, int8 or int4, with float32 activations; float
 * weights (the embedding and a tied head, any unquantized linear) as f32. All weights are copied
 * once into the module's memory at creation.
 *
 * The rest follows the reference (llama.ts) step by step: its RMSNorm, RoPE with the config's
 * inv_freq (rope_scaling included), GQA attention over a KV cache of rotated keys and values
 * (sliding window as Mistral's), SwiGLU, biases where the model has them. Sums inside a matvec run
 * in f32 (the reference sums in f64), so logits agree with referenceDecoder's to rounding
 * (simd-decoder.test.ts: 1e-4). Decoding processes one position at a time: a prompt of n tokens
 * reads the weights n times.
 *
 * Threads: every matvec's rows are split over this thread and `threads − 1` workers on a shared
 * memory (MatvecMemory); q/k/v go as one dispatch and gate/up as another (same input). Default in
 * Node: min(2, cores), workers from src/cpu/matvec-node.ts; elsewhere one thread unless a `spawn`
 * is given. Logits are bit-identical whatever the thread count (simd-decoder.test.ts).
 */
import { MatvecMemory, type HeldLinear, type SpawnMatvecWorker } from '../cpu/simd-matvec.ts';
import { QUANT_SUFFIX, layout } from '../core/operators/quantize.cpu.ts';
import { toFloat32, type Tensor } from '../core/tensor.ts';
import type { CausalDecoder } from '../core/models/decoder.ts';
import { layerPrefix, ropeInvFreq, type CausalLmConfig } from '../core/models/llama-config.ts';
import { rmsNorm, ropeInPlace } from '../core/models/llama.ts';

interface Layer {
  inNorm: Float32Array;
  postNorm: Float32Array;
  q: HeldLinear;
  k: HeldLinear;
  v: HeldLinear;
  o: HeldLinear;
  gate: HeldLinear;
  up: HeldLinear;
  down: HeldLinear;
  bias: Partial<Record<'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down', Float32Array>>;
}

/** Signed values of an I8 or I4 tensor (I4: two a byte, low nibble first, over the flat index). */
function unpackQ(t: Tensor, n: number): Int8Array {
  if (t.dtype === 'I8') return new Int8Array(t.data.buffer, t.data.byteOffset, n);
  if (t.dtype !== 'I4') throw new Error(`${t.name}: quantized values must be I8 or I4, not ${t.dtype}`);
  const q = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const nib = (t.data[i >> 1] >> ((i & 1) * 4)) & 0xf;
    q[i] = nib >= 8 ? nib - 16 : nib;
  }
  return q;
}

/** Bytes the decoder's weights take in its memory and a token reads (padding included). */
export interface SimdDecoder extends CausalDecoder {
  readonly weightBytes: number;
  /** Threads each matvec is split over (this one included). */
  readonly threads: number;
}

export interface SimdDecoderOptions {
  /** This thread + threads − 1 workers (default: min(2, cores) in Node, else 1). */
  threads?: number;
  /** How to start a worker (default in Node: matvec-node.ts's worker_threads). */
  spawn?: SpawnMatvecWorker;
}

const inNode = () => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

async function matvecMemory(o: SimdDecoderOptions): Promise<MatvecMemory> {
  let { threads, spawn } = o;
  if ((threads === undefined || threads > 1) && !spawn && inNode()) {
    // A specifier that bundlers leave alone: a browser bundle of this file (bench/lm-page.ts) must
    // not hoist matvec-node.ts's node:worker_threads import into the page.
    const nodeOnly = '../cpu/matvec-node.ts';
    const node = (await import(/* @vite-ignore */ nodeOnly)) as typeof import('../cpu/matvec-node.ts');
    threads ??= node.defaultMatvecThreads();
    spawn = node.spawnNodeMatvecWorker;
  }
  return MatvecMemory.create({ threads: threads ?? 1, spawn });
}

export async function createSimdDecoder(
  config: CausalLmConfig,
  tensors: readonly Tensor[],
  opts: SimdDecoderOptions = {},
): Promise<SimdDecoder> {
  const c = config;
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const mem = await matvecMemory(opts);
  try {
    return build(c, byName, mem);
  } catch (e) {
    mem.release();
    throw e;
  }
}

function build(c: CausalLmConfig, byName: Map<string, Tensor>, mem: MatvecMemory): SimdDecoder {
  let weightBytes = 0;
  const f32 = (nm: string) => {
    const t = byName.get(nm);
    if (!t) throw new Error(`the model has no tensor ${JSON.stringify(nm)}`);
    return toFloat32(t);
  };
  const optional = (nm: string) => (byName.has(nm) ? f32(nm) : undefined);
  /** A linear weight [out, in], quantized or float. */
  const linear = (nm: string): HeldLinear => {
    const q = byName.get(nm + QUANT_SUFFIX.q);
    let h: HeldLinear;
    if (q) {
      const s = byName.get(nm + QUANT_SUFFIX.scales);
      if (!s) throw new Error(`"${q.name}" has no "${nm}${QUANT_SUFFIX.scales}"`);
      if (c.quantBlockSize === undefined) throw new Error('the model stores quantized weights but its config names no block size');
      if (q.shape.length !== 2) throw new Error(`${q.name}: expected a 2-D weight, got [${q.shape}]`);
      const { rows, cols } = layout(q.shape, c.quantBlockSize);
      const scales = toFloat32(s);
      const scheme = q.dtype === 'I4' ? 'int4' : 'int8';
      h = mem.addQuantized(unpackQ(q, rows * cols), scales, rows, cols, c.quantBlockSize, scheme);
    } else {
      const t = byName.get(nm);
      if (!t) throw new Error(`the model has no tensor ${JSON.stringify(nm)}`);
      if (t.shape.length !== 2) throw new Error(`${nm}: expected a 2-D weight, got [${t.shape}]`);
      h = mem.addF32(toFloat32(t), t.shape[0], t.shape[1]);
    }
    weightBytes += h.bytes;
    return h;
  };

  const embed = linear('model.embed_tokens.weight');
  if (embed.K !== c.hiddenSize || embed.N !== c.vocabSize)
    throw new Error(`model.embed_tokens.weight is [${embed.N}, ${embed.K}], the config says [${c.vocabSize}, ${c.hiddenSize}]`);
  const layers: Layer[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const p = layerPrefix(l);
    const names = {
      q: 'self_attn.q_proj',
      k: 'self_attn.k_proj',
      v: 'self_attn.v_proj',
      o: 'self_attn.o_proj',
      gate: 'mlp.gate_proj',
      up: 'mlp.up_proj',
      down: 'mlp.down_proj',
    } as const;
    const bias: Layer['bias'] = {};
    for (const [k, nm] of Object.entries(names)) {
      const b = optional(`${p}${nm}.bias`);
      if (b) bias[k as keyof typeof names] = b;
    }
    layers.push({
      inNorm: f32(`${p}input_layernorm.weight`),
      postNorm: f32(`${p}post_attention_layernorm.weight`),
      q: linear(`${p}${names.q}.weight`),
      k: linear(`${p}${names.k}.weight`),
      v: linear(`${p}${names.v}.weight`),
      o: linear(`${p}${names.o}.weight`),
      gate: linear(`${p}${names.gate}.weight`),
      up: linear(`${p}${names.up}.weight`),
      down: linear(`${p}${names.down}.weight`),
      bias,
    });
  }
  const finalNorm = f32('model.norm.weight');
  const head = c.tieWordEmbeddings ? embed : linear('lm_head.weight');
  const invFreq = ropeInvFreq(c);

  const { hiddenSize: H, headDim: D, numHeads, numKvHeads, vocabSize: V } = c;
  const rep = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(D);
  const addBias = (y: Float32Array, b?: Float32Array) => {
    if (b) for (let i = 0; i < y.length; i++) y[i] += b[i];
    return y;
  };
  const mv = (w: HeldLinear, x: Float32Array, b?: Float32Array) => addBias(mem.matvec(w, x), b);
  /** Several products of one x in one dispatch, each with its bias. */
  const mvs = (ws: [HeldLinear, Float32Array | undefined][], x: Float32Array) =>
    mem
      .matvecs(
        ws.map(([w]) => w),
        x,
      )
      .map((y, i) => addBias(y, ws[i][1]));
  const rope = (x: Float32Array, heads: number, pos: number) => ropeInPlace(x, heads, D, invFreq, pos);

  let keys: Float32Array[][] = [];
  let values: Float32Array[][] = [];
  let length = 0;
  const reset = () => {
    keys = layers.map(() => []);
    values = layers.map(() => []);
    length = 0;
  };
  reset();

  const step = (id: number): Float32Array => {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`token id ${id} is outside the vocabulary 0..${V - 1}`);
    const pos = length;
    const h = mem.f32Row(embed, id);
    const first = c.slidingWindow === null ? 0 : Math.max(0, pos - c.slidingWindow + 1);
    const scores = new Float64Array(pos + 1);
    for (let l = 0; l < layers.length; l++) {
      const L = layers[l];
      const n = rmsNorm(h, L.inNorm, c.rmsNormEps);
      const [q, k, v] = mvs(
        [
          [L.q, L.bias.q],
          [L.k, L.bias.k],
          [L.v, L.bias.v],
        ],
        n,
      );
      rope(q, numHeads, pos);
      rope(k, numKvHeads, pos);
      keys[l].push(k);
      values[l].push(v);
      const ks = keys[l];
      const vs = values[l];
      const attn = new Float32Array(numHeads * D);
      for (let hq = 0; hq < numHeads; hq++) {
        const g = Math.floor(hq / rep);
        const qo = hq * D;
        const go = g * D;
        let max = -Infinity;
        for (let s = first; s <= pos; s++) {
          let dot = 0;
          const kk = ks[s];
          for (let j = 0; j < D; j++) dot += q[qo + j] * kk[go + j];
          scores[s] = Math.fround(dot) * scale;
          if (scores[s] > max) max = scores[s];
        }
        let sum = 0;
        for (let s = first; s <= pos; s++) sum += scores[s] = Math.exp(scores[s] - max);
        const acc = new Float64Array(D);
        for (let s = first; s <= pos; s++) {
          const p = scores[s] / sum;
          const vv = vs[s];
          for (let j = 0; j < D; j++) acc[j] += p * vv[go + j];
        }
        for (let j = 0; j < D; j++) attn[qo + j] = acc[j];
      }
      const o = mv(L.o, attn, L.bias.o);
      for (let i = 0; i < H; i++) h[i] += o[i];
      const n2 = rmsNorm(h, L.postNorm, c.rmsNormEps);
      const [gate, up] = mvs(
        [
          [L.gate, L.bias.gate],
          [L.up, L.bias.up],
        ],
        n2,
      );
      for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
      const down = mv(L.down, gate, L.bias.down);
      for (let i = 0; i < H; i++) h[i] += down[i];
    }
    length++;
    return mv(head, rmsNorm(h, finalNorm, c.rmsNormEps));
  };

  return {
    vocabSize: V,
    weightBytes,
    get length() {
      return length;
    },
    forward: async (ids) => {
      const logits = new Float32Array(ids.length * V);
      for (let t = 0; t < ids.length; t++) logits.set(step(ids[t]), t * V);
      return logits;
    },
    threads: mem.threads,
    reset,
    release: async () => mem.release(),
  };
}
