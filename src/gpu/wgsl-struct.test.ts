/**
 * Every kernel's WGSL parameter struct against its host twin: the struct is parsed from the
 * kernel's .wgsl file, laid out here by WGSL's rules (restated independently of wgsl-struct.ts),
 * and compared field by field (name, type, offset, size) with the host packer's layout. The
 * operator kernels bind theirs as `params` (storage), the training kernels (src/gpu/train) as the
 * uniform `p`.
 */
import { describe, expect, it } from 'vitest';
import { arrayOf, f32Bits, wgslStruct, type Fields, type WgslStruct } from './wgsl-struct.ts';
import { ChunkUniform } from './tensor-job.ts';
import { SelectParams } from './radix-select.ts';
import { BlendParams } from './ops/blend.gpu.ts';
import { CrossoverParams } from './ops/crossover.gpu.ts';
import { MutateParams } from './ops/mutate.gpu.ts';
import { NearswapParams } from './ops/nearswap.gpu.ts';
import { PruneParams } from './ops/prune.gpu.ts';
import { QuantizeParams } from './ops/quantize.gpu.ts';
import { SlerpParams } from './ops/slerp.gpu.ts';
import { ArceeFusionParams } from './ops/arcee-fusion.gpu.ts';
import { ModelStockParams } from './ops/model-stock.gpu.ts';
import { GramParams } from './ops/gram.gpu.ts';
import { NuslerpParams } from './ops/nuslerp.gpu.ts';
import { RamParams } from './ops/ram.gpu.ts';
import { SceParams } from './ops/sce.gpu.ts';
import { TaskArithmeticParams } from './ops/task-arithmetic.gpu.ts';
import {
  ActParams,
  AdamWParams,
  AttnParams,
  BiasParams,
  EmbedParams,
  MatmulParams,
  MulParams,
  RmsNormParams,
  RopeParams,
  TRAIN_KERNELS,
  XentParams,
} from './train/kernels.ts';

const SOURCES = import.meta.glob(['./*.wgsl', './wgsl/*.wgsl', './ops/*.wgsl', './train/*.wgsl'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

/** Each WGSL file's host twin of the struct bound as `params` (and the chunk uniform's). */
const TWINS: [file: string, host: WgslStruct<Fields>][] = [
  ['./wgsl/elementwise.wgsl', ChunkUniform],
  ['./radix-select.wgsl', SelectParams],
  ['./ops/blend.wgsl', BlendParams],
  ['./ops/crossover.wgsl', CrossoverParams],
  ['./ops/mutate.wgsl', MutateParams],
  ['./ops/nearswap.wgsl', NearswapParams],
  ['./ops/prune.wgsl', PruneParams],
  ['./ops/quantize.wgsl', QuantizeParams],
  ['./ops/slerp.wgsl', SlerpParams],
  ['./ops/arcee-fusion.wgsl', ArceeFusionParams],
  ['./ops/model-stock.wgsl', ModelStockParams],
  ['./ops/gram.wgsl', GramParams],
  ['./ops/nuslerp.wgsl', NuslerpParams],
  ['./ops/ram.wgsl', RamParams],
  ['./ops/sce.wgsl', SceParams],
  ['./ops/task-arithmetic.wgsl', TaskArithmeticParams],
  ['./train/matmul.wgsl', MatmulParams],
  ['./train/bias.wgsl', BiasParams],
  ['./train/activation.wgsl', ActParams],
  ['./train/cross-entropy.wgsl', XentParams],
  ['./train/rms-norm.wgsl', RmsNormParams],
  ['./train/adamw.wgsl', AdamWParams],
  ['./train/mul.wgsl', MulParams],
  ['./train/rope.wgsl', RopeParams],
  ['./train/attention.wgsl', AttnParams],
  ['./train/embedding.wgsl', EmbedParams],
];

/** How a file binds its parameter struct: training kernels as the uniform `p`, the others as storage `params`. */
const binding = (file: string, struct: string) =>
  file.startsWith('./train/') ? `var<uniform> p: ${struct};` : `var<storage, read> params: ${struct};`;

type Parsed = { name: string; type: string }[];

/** The structs a WGSL source declares, by name (comments stripped). */
function parseStructs(src: string): Map<string, Parsed> {
  const code = src.replace(/\/\/[^\n]*/g, '');
  const out = new Map<string, Parsed>();
  for (const m of code.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}/g)) {
    const fields = m[2]
      .split(/,\s*(?![^<]*>)/)
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => {
        const [name, type] = f.split(':').map((x) => x.trim());
        return { name, type: type.replace(/\s+/g, ' ') };
      });
    out.set(m[1], fields);
  }
  return out;
}

/** WGSL's align and size of a type (storage address space), restated from the spec's table. */
function alignSize(type: string, structs: Map<string, Parsed>): { align: number; size: number } {
  if (type === 'u32' || type === 'i32' || type === 'f32') return { align: 4, size: 4 };
  const vec = /^vec([234])<(u32|i32|f32)>$/.exec(type);
  if (vec) return { align: vec[1] === '2' ? 8 : 16, size: 4 * Number(vec[1]) };
  const arr = /^array<(.+?)(?:, (\d+))?>$/.exec(type);
  if (arr) {
    const e = alignSize(arr[1], structs);
    const stride = Math.ceil(e.size / e.align) * e.align;
    return { align: e.align, size: arr[2] ? Number(arr[2]) * stride : stride };
  }
  const s = structs.get(type);
  if (!s) throw new Error(`unknown WGSL type ${type}`);
  return structLayout(s, structs);
}

function structLayout(fields: Parsed, structs: Map<string, Parsed>) {
  let offset = 0;
  let align = 1;
  const layout = fields.map((f) => {
    const t = alignSize(f.type, structs);
    offset = Math.ceil(offset / t.align) * t.align;
    const at = offset;
    offset += t.size;
    align = Math.max(align, t.align);
    return { name: f.name, type: f.type, offset: at, size: t.size };
  });
  return { layout, align, size: Math.ceil(offset / align) * align };
}

/** The WGSL struct named as `host` in `src`, laid out, beside the host's layout. */
function twins(src: string, host: WgslStruct<Fields>) {
  const structs = parseStructs(src);
  const wgsl = structs.get(host.name);
  return {
    wgsl,
    want: wgsl && structLayout(wgsl, structs),
    got: { layout: host.layout.map((l) => ({ ...l })), size: host.size, align: host.align },
  };
}

describe('the WGSL layout rules of the packer', () => {
  it('places fields at WGSL offsets (spec examples: a struct inside an array, a struct with a runtime-sized tail)', () => {
    const inner = wgslStruct('Inner', { a: 'f32', b: 'u32', c: 'f32' });
    const outer = wgslStruct('Outer', { n: 'u32', fixed: arrayOf('f32', 3), items: arrayOf(inner) });
    expect(inner.size).toBe(12);
    expect(outer.layout.map((l) => [l.name, l.offset, l.size])).toEqual([
      ['n', 0, 4],
      ['fixed', 4, 12],
      ['items', 16, 12],
    ]);
    const bytes = outer.pack({
      n: 7,
      fixed: [1, 2, 3],
      items: [
        { a: 0.5, b: 0xffffffff, c: -2 },
        { a: 1, b: 3, c: 4 },
      ],
    });
    expect(bytes.byteLength).toBe(16 + 2 * 12);
    const u = new Uint32Array(bytes);
    const f = new Float32Array(bytes);
    expect([u[0], f[1], f[2], f[3], f[4], u[5], f[6], f[7], u[8], f[9]]).toEqual([7, 1, 2, 3, 0.5, 0xffffffff, -2, 1, 3, 4]);
  });

  it('rounds floats to f32 and wraps integers as WGSL stores them; pads an empty runtime array to one element', () => {
    const s = wgslStruct('S', { x: 'f32', k: 'u32', i: 'i32', tail: arrayOf('u32') });
    const u = new Uint32Array(s.pack({ x: 0.1, k: -1, i: -5, tail: [] }));
    expect(u.length).toBe(4);
    expect([u[0], u[1], u[2] | 0, u[3]]).toEqual([f32Bits(0.1), 0xffffffff, -5, 0]);
  });

  it('refuses a runtime-sized array that is not last, a missing value, and a wrong fixed length', () => {
    expect(() => wgslStruct('Bad', { a: arrayOf('f32'), b: 'u32' })).toThrow(/runtime-sized array a must be the last field/);
    const s = wgslStruct('S', { a: 'u32', b: arrayOf('f32', 2) });
    expect(() => s.pack({ a: 1 } as never)).toThrow(/no value for b/);
    expect(() => s.pack({ a: 1, b: [1] })).toThrow(/1 values for array of 2/);
  });

  it('packs a uniform in 16-byte multiples and refuses a NaN or an integer out of range there, where pack wraps', () => {
    const values = { m: 3, n: 5, k: 7, transA: 0, transB: 1, accumulate: 1, alpha: 0.5 };
    const buf = MatmulParams.packUniform(values);
    expect(buf.byteLength).toBe(32);
    const v = new DataView(buf);
    expect([0, 1, 2, 3, 4, 5].map((i) => v.getUint32(4 * i, true))).toEqual([3, 5, 7, 0, 1, 1]);
    expect(v.getFloat32(24, true)).toBe(0.5);
    expect(new Uint8Array(buf, 28)).toEqual(new Uint8Array(4));
    expect(new Uint8Array(buf, 0, 28)).toEqual(new Uint8Array(MatmulParams.pack(values)));
    expect(MulParams.packUniform({ n: 1, accumulate: 0 }).byteLength).toBe(16);
    expect(() => MatmulParams.packUniform({ ...values, m: -1 })).toThrow(/MatmulParams.m = -1 is not a u32/);
    expect(() => MatmulParams.packUniform({ ...values, k: 1.5 })).toThrow(/k = 1.5 is not a u32/);
    expect(() => MatmulParams.packUniform({ ...values, n: 2 ** 32 })).toThrow(/is not a u32/);
    expect(() => MatmulParams.packUniform({ ...values, alpha: NaN })).toThrow(/alpha is NaN/);
    expect(() => wgslStruct('I', { i: 'i32' }).packUniform({ i: 2 ** 31 })).toThrow(/is not a i32/);
    expect(() => wgslStruct('A', { a: arrayOf('f32', 2) }).packUniform({ a: [1, 2] })).toThrow(/not a scalar/);
  });
});

describe('every kernel declares its parameter struct with the fields its host packer writes', () => {
  it('covers every WGSL file that binds params', () => {
    const code = (f: string) => SOURCES[f].replace(/\/\/[^\n]*/g, '');
    const binds = Object.keys(SOURCES).filter((f) => /var<storage, read> params:|var<uniform> p:/.test(code(f)));
    expect(binds.sort()).toEqual(
      TWINS.map(([f]) => f)
        .filter((f) => f !== './wgsl/elementwise.wgsl')
        .sort(),
    );
    // No kernel reads parameter words at offsets any more.
    for (const file of Object.keys(SOURCES)) expect(code(file), file).not.toMatch(/paramF\(|params\[/);
  });

  for (const [file, host] of TWINS) {
    it(`${file}: struct ${host.name}`, () => {
      const src = SOURCES[file];
      expect(src, `${file} is missing`).toBeDefined();
      const { wgsl, want, got } = twins(src, host);
      expect(wgsl, `${file} declares no struct ${host.name}`).toBeDefined();
      expect(got).toEqual(want);
      if (host !== ChunkUniform) expect(src).toContain(binding(file, host.name));
      // A uniform struct of scalars lays out as in storage (the rules restated here are storage's).
      if (file.startsWith('./train/')) for (const f of wgsl!) expect(f.type, f.name).toMatch(/^(u32|i32|f32)$/);
    });
  }

  it('each training kernel names its .wgsl struct and entry points', () => {
    for (const [name, def] of Object.entries(TRAIN_KERNELS)) {
      const twin = TWINS.find(([, host]) => host === def.struct);
      expect(twin, name).toBeDefined();
      expect(SOURCES[twin![0]], name).toBe(def.code);
      for (const entry of def.entries) expect(def.code, `${name}.${entry}`).toMatch(new RegExp(`fn ${entry}\\(`));
    }
  });

  it('tells apart a host twin that renames, reorders or retypes a field, or a struct the WGSL lacks', () => {
    const src = SOURCES['./train/matmul.wgsl'];
    const { m, n, ...rest } = MatmulParams.fields;
    for (const fields of [
      { n, m, ...rest },
      { ...MatmulParams.fields, alpha: 'u32' },
      { mm: m, n, ...rest },
    ] as const) {
      const { want, got } = twins(src, wgslStruct('MatmulParams', fields));
      expect(got).not.toEqual(want);
    }
    expect(twins(src, wgslStruct('NoSuchParams', MatmulParams.fields)).wgsl).toBeUndefined();
  });
});
