/**
 * Tensors as the garden stores them: a name, a dtype, a shape and raw little-endian bytes.
 * Operators compute in float32; conversions to and from every stored dtype live here.
 */

/** The closed set of stored dtypes, with their safetensors names and element sizes in bits. */
export const DTYPES = Object.freeze({
  F32: { bits: 32 },
  F16: { bits: 16 },
  BF16: { bits: 16 },
  I8: { bits: 8 },
  U8: { bits: 8 },
  /** Two signed 4-bit values per byte, low nibble first; used by quantized candidates. */
  I4: { bits: 4 },
} as const);

export type DType = keyof typeof DTYPES;

export function isDType(x: string): x is DType {
  return Object.prototype.hasOwnProperty.call(DTYPES, x);
}

export function dtypeError(x: string): Error {
  return new Error(`unknown dtype "${x}"; valid: ${Object.keys(DTYPES).join(', ')}`);
}

export interface Tensor {
  name: string;
  dtype: DType;
  shape: number[];
  /** Raw little-endian bytes, exactly byteLength(dtype, shape) long. */
  data: Uint8Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteLength(dtype: DType, shape: readonly number[]): number {
  return Math.ceil((numel(shape) * DTYPES[dtype].bits) / 8);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round-to-nearest-even float32 → float16 bits. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decode a stored tensor to float32 (a copy for every dtype but an aligned F32). */
export function toFloat32(t: Tensor): Float32Array {
  const n = numel(t.shape);
  const { data } = t;
  switch (t.dtype) {
    case 'F32':
      if (data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, n);
      return new Float32Array(data.slice().buffer, 0, n);
    case 'F16':
    case 'BF16': {
      const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const out = new Float32Array(n);
      const conv = t.dtype === 'F16' ? f16ToF32 : bf16ToF32;
      for (let i = 0; i < n; i++) out[i] = conv(dv.getUint16(2 * i, true));
      return out;
    }
    case 'I8':
      return Float32Array.from(new Int8Array(data.buffer, data.byteOffset, n));
    case 'U8':
      return Float32Array.from(data.subarray(0, n));
    case 'I4': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const nib = (data[i >> 1] >> ((i & 1) * 4)) & 0xf;
        out[i] = nib >= 8 ? nib - 16 : nib;
      }
      return out;
    }
  }
}

/** Encode float32 values into a stored dtype (round to nearest even for F16/BF16). */
export function fromFloat32(name: string, shape: number[], values: Float32Array, dtype: DType = 'F32'): Tensor {
  const n = numel(shape);
  if (values.length !== n) throw new Error(`${name}: ${values.length} values for shape [${shape}] (${n} elements)`);
  let data: Uint8Array;
  switch (dtype) {
    case 'F32':
      data = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + 4 * n));
      break;
    case 'F16':
    case 'BF16': {
      data = new Uint8Array(2 * n);
      const dv = new DataView(data.buffer);
      const conv = dtype === 'F16' ? f32ToF16 : f32ToBf16;
      for (let i = 0; i < n; i++) dv.setUint16(2 * i, conv(values[i]), true);
      break;
    }
    case 'I8':
      data = new Uint8Array(Int8Array.from(values, (v) => Math.max(-128, Math.min(127, Math.round(v)))).buffer);
      break;
    case 'U8':
      data = Uint8Array.from(values, (v) => Math.max(0, Math.min(255, Math.round(v))));
      break;
    case 'I4': {
      data = new Uint8Array(Math.ceil(n / 2));
      for (let i = 0; i < n; i++) {
        const q = Math.max(-8, Math.min(7, Math.round(values[i]))) & 0xf;
        data[i >> 1] |= q << ((i & 1) * 4);
      }
      break;
    }
  }
  return { name, dtype, shape: [...shape], data };
}
