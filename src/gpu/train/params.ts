/**
 * The parameter structs of the training kernels: each kernel's WGSL declares a named uniform
 * `struct` (e.g. `struct MatmulParams { m: u32, n: u32, k: u32, … }`) and the host packs it from a
 * schema with the same field names, in the same order. Every field is a 4-byte scalar, so the
 * uniform layout is the fields one after another; `checkStruct` reads the struct out of the WGSL
 * and refuses a schema that disagrees (names, order or types), when a pipeline is built.
 */

export type ScalarType = 'u32' | 'i32' | 'f32';
export type ParamSchema = Readonly<Record<string, ScalarType>>;
export type ParamValues<S extends ParamSchema> = { readonly [K in keyof S]: number };

/** The fields of `struct NAME { … }` in WGSL source, in order: [name, type]. */
export function wgslStructFields(code: string, name: string): [string, string][] {
  const m = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(code.replace(/\/\/[^\n]*/g, ''));
  if (!m) throw new Error(`WGSL has no struct ${name}`);
  return m[1]
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean)
    .map((f) => {
      const [field, type] = f.split(':').map((s) => s.trim());
      return [field, type];
    });
}

/** Refuse a schema whose fields are not those of the WGSL struct (names, order and types). */
export function checkStruct(code: string, name: string, schema: ParamSchema): void {
  const wgsl = wgslStructFields(code, name)
    .map(([f, t]) => `${f}: ${t}`)
    .join(', ');
  const host = Object.entries(schema)
    .map(([f, t]) => `${f}: ${t}`)
    .join(', ');
  if (wgsl !== host) throw new Error(`struct ${name}: WGSL has { ${wgsl} }, the host packs { ${host} }`);
}

/** The uniform bytes of a struct: every field of `schema` from `values`, in order, padded to 16 bytes. */
export function packParams<S extends ParamSchema>(schema: S, values: ParamValues<S>): ArrayBuffer {
  const keys = Object.keys(schema);
  const buf = new ArrayBuffer(Math.ceil((4 * keys.length) / 16) * 16);
  const view = new DataView(buf);
  keys.forEach((k, i) => {
    const v = values[k];
    if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`parameter ${k} is ${String(v)}`);
    const t = schema[k];
    if (t === 'f32') view.setFloat32(4 * i, v, true);
    else if (t === 'i32') view.setInt32(4 * i, v, true);
    else {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`parameter ${k} = ${v} is not a u32`);
      view.setUint32(4 * i, v, true);
    }
  });
  return buf;
}

export const MATMUL_PARAMS = {
  m: 'u32',
  n: 'u32',
  k: 'u32',
  transA: 'u32',
  transB: 'u32',
  accumulate: 'u32',
  alpha: 'f32',
} as const satisfies ParamSchema;

export const BIAS_PARAMS = { rows: 'u32', cols: 'u32', accumulate: 'u32' } as const satisfies ParamSchema;

export const ACT_PARAMS = { n: 'u32', kind: 'u32', accumulate: 'u32' } as const satisfies ParamSchema;

export const XENT_PARAMS = { rows: 'u32', cols: 'u32', scale: 'f32' } as const satisfies ParamSchema;

export const RMS_NORM_PARAMS = { rows: 'u32', cols: 'u32', eps: 'f32', accumulate: 'u32' } as const satisfies ParamSchema;

export const ADAMW_PARAMS = {
  n: 'u32',
  lr: 'f32',
  beta1: 'f32',
  beta2: 'f32',
  eps: 'f32',
  decay: 'f32',
  c1: 'f32',
  c2: 'f32',
} as const satisfies ParamSchema;

export const MUL_PARAMS = { n: 'u32', accumulate: 'u32' } as const satisfies ParamSchema;
