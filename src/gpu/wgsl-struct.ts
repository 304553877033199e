/**
 * Host twins of WGSL parameter structs (the webgpu-samples style): a kernel's `.wgsl` file declares
 * `struct BlendParams { divisor: f32, weights: array<f32> }` and its `.gpu.ts` declares
 * `wgslStruct('BlendParams', { divisor: 'f32', weights: arrayOf('f32') })` with the same field
 * names in the same order; `pack` writes a values object into an ArrayBuffer at the offsets WGSL
 * gives those fields. src/gpu/wgsl-struct.test.ts parses every kernel's WGSL struct and checks
 * that the host layout has the same fields, offsets and size.
 *
 * Layout rules (WGSL § Memory layout, storage address space): a scalar (u32, i32, f32) has align
 * and size 4; a struct's align is its largest member align, each member sits at the next multiple
 * of its align, and the struct's size is rounded up to its align; an array's stride is its
 * element's size rounded up to the element's align. A runtime-sized array may only be a struct's
 * last field; it is packed with as many elements as the value has (at least one: the minimum
 * binding size). Uniform buffers add rules this helper does not implement; it is used there only
 * for structs of scalars (the chunk uniform, the training kernels' parameters: `packUniform`),
 * where both rule sets agree.
 */

export type Scalar = 'u32' | 'i32' | 'f32';

/** An array field: of scalars or of structs; no length means runtime-sized (last field only). */
export interface ArrayField {
  readonly array: Scalar | WgslStruct<Fields>;
  readonly length?: number;
}

export type Field = Scalar | ArrayField | WgslStruct<Fields>;
export type Fields = Readonly<Record<string, Field>>;

type ValueOf<T> = T extends Scalar
  ? number
  : T extends WgslStruct<infer G>
    ? StructValues<G>
    : T extends { array: infer E }
      ? E extends Scalar
        ? ArrayLike<number>
        : E extends WgslStruct<infer G>
          ? readonly StructValues<G>[]
          : never
      : never;

/** The values `pack` takes: one per field, numbers for scalars, arrays for arrays, objects for structs. */
export type StructValues<F extends Fields> = { readonly [K in keyof F]: ValueOf<F[K]> };

/** Where one field sits: its byte offset in the struct and its size (a runtime-sized array: its stride). */
export interface FieldLayout {
  name: string;
  /** The field's type as WGSL spells it. */
  type: string;
  offset: number;
  size: number;
}

/** An array field. */
export function arrayOf(element: Scalar | WgslStruct<Fields>, length?: number): ArrayField {
  return length === undefined ? { array: element } : { array: element, length };
}

function isScalar(f: Field): f is Scalar {
  return typeof f === 'string';
}

function isArray(f: Field): f is ArrayField {
  return typeof f === 'object' && 'array' in f;
}

const roundUp = (align: number, n: number) => Math.ceil(n / align) * align;

function alignOf(f: Field): number {
  if (isScalar(f)) return 4;
  if (isArray(f)) return alignOf(f.array);
  return f.align;
}

/** The size of a field (for a runtime-sized array: its stride, the size of one element). */
function sizeOf(f: Field): number {
  if (isScalar(f)) return 4;
  if (isArray(f)) return (f.length ?? 1) * strideOf(f.array);
  return f.size;
}

function strideOf(e: Scalar | WgslStruct<Fields>): number {
  return roundUp(alignOf(e), sizeOf(e));
}

function typeName(f: Field): string {
  if (isScalar(f)) return f;
  if (isArray(f)) return f.length === undefined ? `array<${typeName(f.array)}>` : `array<${typeName(f.array)}, ${f.length}>`;
  return f.name;
}

export class WgslStruct<F extends Fields> {
  readonly layout: readonly FieldLayout[];
  readonly align: number;
  /** The struct's size; with a runtime-sized array last, its size with one element. */
  readonly size: number;
  /** The runtime-sized array's field, when the struct ends in one. */
  private readonly runtime: string | null;

  constructor(
    readonly name: string,
    readonly fields: F,
  ) {
    const names = Object.keys(fields);
    if (names.length === 0) throw new Error(`struct ${name} has no fields`);
    let offset = 0;
    let align = 1;
    const layout: FieldLayout[] = [];
    let runtime: string | null = null;
    for (const [i, field] of names.entries()) {
      const f = fields[field];
      if (isArray(f) && f.length === undefined) {
        if (i !== names.length - 1) throw new Error(`struct ${name}: the runtime-sized array ${field} must be the last field`);
        runtime = field;
      }
      if (!isScalar(f) && !isArray(f) && f.runtime) throw new Error(`struct ${name}: ${field} holds a runtime-sized array`);
      offset = roundUp(alignOf(f), offset);
      layout.push({ name: field, type: typeName(f), offset, size: sizeOf(f) });
      offset += sizeOf(f);
      align = Math.max(align, alignOf(f));
    }
    this.layout = layout;
    this.align = align;
    this.size = roundUp(align, offset);
    this.runtime = runtime;
  }

  /** The struct as WGSL declares it (for messages and docs). */
  toWgsl(): string {
    return `struct ${this.name} { ${this.layout.map((l) => `${l.name}: ${l.type}`).join(', ')} }`;
  }

  /** The bytes of `values` in this struct's layout (a runtime-sized array as long as its value, at least one element). */
  pack(values: StructValues<F>): ArrayBuffer {
    let bytes = this.size;
    if (this.runtime) {
      const last = this.layout[this.layout.length - 1];
      const n = (values[this.runtime] as ArrayLike<unknown>).length;
      bytes = roundUp(this.align, last.offset + Math.max(1, n) * last.size);
    }
    const buffer = new ArrayBuffer(bytes);
    this.write(new DataView(buffer), 0, values);
    return buffer;
  }

  /**
   * The bytes of a uniform buffer holding `values`: `pack`'s, in a buffer rounded up to 16 bytes,
   * after refusing a NaN or an integer field's value that is not an integer in its range (which
   * `pack` would wrap, as WGSL stores it). Only for structs of scalars, where the uniform and
   * storage layouts agree.
   */
  packUniform(values: StructValues<F>): ArrayBuffer {
    const bytes = new ArrayBuffer(roundUp(16, this.size));
    for (const l of this.layout) {
      const t = this.fields[l.name];
      if (!isScalar(t)) throw new Error(`struct ${this.name}: ${l.name} is not a scalar; packUniform packs structs of scalars`);
      const v = (values as Record<string, unknown>)[l.name];
      if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${this.name}.${l.name} is ${String(v)}`);
      const [lo, hi] = t === 'u32' ? [0, 0xffffffff] : [-0x80000000, 0x7fffffff];
      if (t !== 'f32' && !(Number.isInteger(v) && v >= lo && v <= hi)) throw new Error(`${this.name}.${l.name} = ${v} is not a ${t}`);
    }
    this.write(new DataView(bytes), 0, values);
    return bytes;
  }

  /** Write `values` at byte `at` of `view`. */
  write(view: DataView, at: number, values: StructValues<F>): void {
    for (const l of this.layout) {
      const f = this.fields[l.name];
      const v = (values as Record<string, unknown>)[l.name];
      if (v === undefined) throw new Error(`struct ${this.name}: no value for ${l.name}`);
      writeField(view, at + l.offset, f, v, `${this.name}.${l.name}`);
    }
  }
}

function writeScalar(view: DataView, at: number, t: Scalar, v: unknown, what: string): void {
  if (typeof v !== 'number') throw new Error(`${what}: ${JSON.stringify(v)} is not a number`);
  if (t === 'f32') view.setFloat32(at, v, true);
  else if (t === 'u32') view.setUint32(at, v >>> 0, true);
  else view.setInt32(at, v | 0, true);
}

function writeField(view: DataView, at: number, f: Field, v: unknown, what: string): void {
  if (isScalar(f)) return writeScalar(view, at, f, v, what);
  if (!isArray(f)) return f.write(view, at, v as StructValues<Fields>);
  const xs = v as ArrayLike<unknown>;
  if (f.length !== undefined && xs.length !== f.length) throw new Error(`${what}: ${xs.length} values for array of ${f.length}`);
  if (f.array === 'f32' || f.array === 'u32') {
    // Scalars at stride 4: a typed-array copy (Float32Array rounds as setFloat32 does, Uint32Array wraps as >>> 0).
    if (!ArrayBuffer.isView(xs))
      for (let i = 0; i < xs.length; i++) if (typeof xs[i] !== 'number') throw new Error(`${what}[${i}]: not a number`);
    const Typed = f.array === 'f32' ? Float32Array : Uint32Array;
    new Typed(view.buffer as ArrayBuffer, view.byteOffset + at, xs.length).set(xs as ArrayLike<number>);
    return;
  }
  const stride = strideOf(f.array);
  for (let i = 0; i < xs.length; i++) writeField(view, at + i * stride, f.array, xs[i], `${what}[${i}]`);
}

/** Declare the host twin of a WGSL struct; the field order is the declaration's. */
export function wgslStruct<const F extends Fields>(name: string, fields: F): WgslStruct<F> {
  return new WgslStruct(name, fields);
}

/** The bits of x rounded to f32, as a u32 (for a u32 word that carries a float, as SceParams.data does). */
export function f32Bits(x: number): number {
  F32[0] = x;
  return U32[0];
}
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
