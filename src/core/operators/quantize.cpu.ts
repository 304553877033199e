/**
 * Block-wise symmetric quantization, int8 and int4, with one float32 scale per block.
 *
 * Blocks run along the last dimension: a tensor of n elements with last dimension C has
 * R = n / C rows, each split into ceil(C / B) blocks of B elements (the last one may be shorter).
 * For a block with largest magnitude M:
 *   s = fround(M / qmax)                  qmax = 127 (int8) or 7 (int4)
 *   q = clamp(roundHalfEven(fround(x / s)), −qmax, qmax)    (q = 0 when s = 0)
 *   dequantized x' = fround(q · s), so |x − x'| ≤ s/2 (up to float32 rounding)
 * Storage: "<name>.q" holds q with the tensor's shape, as I8 (one byte each) or I4 (two per
 * byte, low nibble first, as src/core/tensor.ts packs it); "<name>.scales" is F32 with shape
 * [R, ceil(C / B)]. The candidate's metadata records the scheme and block size (QUANT_KEYS).
 */
import { numel, toFloat32, type Tensor } from '../tensor.ts';
import type { ParamValues, TensorInfo } from './types.ts';

export const QUANT_SCHEMES = Object.freeze({
  int8: { qmax: 127, dtype: 'I8' },
  int4: { qmax: 7, dtype: 'I4' },
} as const);
export type QuantScheme = keyof typeof QUANT_SCHEMES;

/** `.slm` metadata keys of a quantized candidate ("slm." is reserved for the format's own keys). */
export const QUANT_KEYS = Object.freeze({ scheme: 'garden.quant.scheme', blockSize: 'garden.quant.blockSize' } as const);
export const QUANT_SUFFIX = Object.freeze({ q: '.q', scales: '.scales' } as const);

export function quantScheme(x: unknown): QuantScheme {
  if (typeof x === 'string' && Object.prototype.hasOwnProperty.call(QUANT_SCHEMES, x)) return x as QuantScheme;
  throw new Error(`unknown quantization scheme ${JSON.stringify(x)}; valid: ${Object.keys(QUANT_SCHEMES).join(', ')}`);
}

/** Round half to even (WGSL's round()). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface QuantizedTensor {
  scheme: QuantScheme;
  blockSize: number;
  shape: number[];
  /** One quantized value per element (unpacked). */
  q: Int8Array;
  /** The stored bytes of q: q itself for int8, two values per byte (low nibble first) for int4. */
  data: Uint8Array;
  scales: Float32Array;
  scalesShape: [number, number];
}

/** Rows, columns (the last dimension) and blocks per row of a tensor of this shape. */
export function layout(shape: readonly number[], blockSize: number): { rows: number; cols: number; blocks: number } {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`quantize: block size ${blockSize} must be a positive integer`);
  const n = numel(shape);
  const cols = shape.length ? shape[shape.length - 1] : 1;
  const rows = cols > 0 ? n / cols : 0;
  return { rows, cols, blocks: Math.ceil(cols / blockSize) };
}

export function quantize(values: Float32Array, shape: readonly number[], scheme: QuantScheme, blockSize: number): QuantizedTensor {
  const { qmax } = QUANT_SCHEMES[scheme];
  const { rows, cols, blocks } = layout(shape, blockSize);
  if (values.length !== rows * cols) throw new Error(`quantize: ${values.length} values for shape [${shape}]`);
  const q = new Int8Array(values.length);
  const scales = new Float32Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * cols + b * blockSize;
      const end = r * cols + Math.min(cols, (b + 1) * blockSize);
      let m = 0;
      for (let i = start; i < end; i++) m = Math.max(m, Math.abs(values[i]));
      const s = Math.fround(m / qmax);
      scales[r * blocks + b] = s;
      if (s === 0) continue;
      for (let i = start; i < end; i++) {
        const v = roundHalfEven(Math.fround(values[i] / s));
        q[i] = v > qmax ? qmax : v < -qmax ? -qmax : v;
      }
    }
  }
  return { scheme, blockSize, shape: [...shape], q, data: packQ(q, scheme), scales, scalesShape: [rows, blocks] };
}

function packQ(q: Int8Array, scheme: QuantScheme): Uint8Array {
  if (scheme === 'int8') return new Uint8Array(q.buffer.slice(0));
  const out = new Uint8Array(Math.ceil(q.length / 2));
  for (let i = 0; i < q.length; i++) out[i >> 1] |= (q[i] & 0xf) << ((i & 1) * 4);
  return out;
}

function unpackQ(data: Uint8Array, n: number, scheme: QuantScheme): Int8Array {
  if (scheme === 'int8') return new Int8Array(data.buffer, data.byteOffset, n);
  const q = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const nib = (data[i >> 1] >> ((i & 1) * 4)) & 0xf;
    q[i] = nib >= 8 ? nib - 16 : nib;
  }
  return q;
}

export function dequantize(t: Pick<QuantizedTensor, 'scheme' | 'blockSize' | 'shape' | 'data' | 'scales'>): Float32Array {
  const { rows, cols, blocks } = layout(t.shape, t.blockSize);
  const q = unpackQ(t.data, rows * cols, t.scheme);
  if (t.scales.length !== rows * blocks) throw new Error(`dequantize: ${t.scales.length} scales for ${rows}×${blocks} blocks`);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      out[i] = q[i] * t.scales[r * blocks + Math.floor(c / t.blockSize)];
    }
  }
  return out;
}

/** Quantize then dequantize: what the quantized tensor computes with (the per-tensor CPU reference). */
export function fakeQuantize(values: Float32Array, shape: readonly number[], scheme: QuantScheme, blockSize: number): Float32Array {
  return dequantize(quantize(values, shape, scheme, blockSize));
}

/** Which tensors a quantization leaves alone (null: quantize it). */
export function quantizeSkip(t: TensorInfo): string | null {
  if (!['F32', 'F16', 'BF16'].includes(t.dtype)) return 'not a float tensor';
  if (t.shape.length < 2) return 'quantize keeps 1-D tensors (biases, norms) in float';
  return null;
}

/** The stored tensors of one quantized tensor. */
export function quantizedTensors(name: string, qt: QuantizedTensor): Tensor[] {
  return [
    { name: name + QUANT_SUFFIX.q, dtype: QUANT_SCHEMES[qt.scheme].dtype, shape: [...qt.shape], data: qt.data },
    { name: name + QUANT_SUFFIX.scales, dtype: 'F32', shape: [...qt.scalesShape], data: new Uint8Array(qt.scales.buffer.slice(0)) },
  ];
}

export function quantizeStore(t: TensorInfo, inputs: readonly Float32Array[], _out: Float32Array, params: ParamValues): Tensor[] {
  return quantizedTensors(t.name, quantize(inputs[0], t.shape, quantScheme(params.scheme), Number(params.blockSize)));
}

/**
 * Quantize a whole model: every tensor that quantizeSkip allows (and `pick`, when given, selects)
 * becomes "<name>.q" + "<name>.scales"; the rest stay.
 */
export function quantizeModel(
  tensors: readonly Tensor[],
  scheme: QuantScheme,
  blockSize: number,
  pick: (t: Tensor) => boolean = () => true,
): Tensor[] {
  return tensors.flatMap((t) =>
    quantizeSkip(t) || !pick(t) ? [t] : quantizedTensors(t.name, quantize(toFloat32(t), t.shape, scheme, blockSize)),
  );
}

/** The reverse of quantizeModel: every "<name>.q" + "<name>.scales" pair back to an F32 "<name>". */
export function dequantizeModel(tensors: readonly Tensor[], blockSize: number): Tensor[] {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out: Tensor[] = [];
  for (const t of tensors) {
    if (t.name.endsWith(QUANT_SUFFIX.scales) && byName.has(t.name.slice(0, -QUANT_SUFFIX.scales.length) + QUANT_SUFFIX.q)) continue;
    if (!t.name.endsWith(QUANT_SUFFIX.q)) {
      out.push(t);
      continue;
    }
    const name = t.name.slice(0, -QUANT_SUFFIX.q.length);
    const s = byName.get(name + QUANT_SUFFIX.scales);
    if (!s) throw new Error(`dequantize: "${t.name}" has no "${name}${QUANT_SUFFIX.scales}"`);
    const scheme: QuantScheme = t.dtype === 'I4' ? 'int4' : t.dtype === 'I8' ? 'int8' : quantScheme(t.dtype);
    const scales = new Float32Array(s.data.slice().buffer);
    const values = dequantize({ scheme, blockSize, shape: t.shape, data: t.data, scales });
    out.push({ name, dtype: 'F32', shape: [...t.shape], data: new Uint8Array(values.buffer) });
  }
  return out;
}
