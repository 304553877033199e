import { describe, expect, it } from 'vitest';
import { checkStruct, packParams, wgslStructFields, MATMUL_PARAMS } from './params.ts';
import { TRAIN_KERNELS } from './kernels.ts';

describe('training kernels: WGSL parameter structs and their host packers', () => {
  for (const [name, def] of Object.entries(TRAIN_KERNELS)) {
    it(`${name}: struct ${def.struct} has the host schema's fields, in order, with its types`, () => {
      expect(wgslStructFields(def.code, def.struct)).toEqual(Object.entries(def.schema));
      expect(() => checkStruct(def.code, def.struct, def.schema)).not.toThrow();
      for (const entry of def.entries) expect(def.code).toMatch(new RegExp(`fn ${entry}\\(`));
    });
  }

  it('refuses a schema that renames, reorders or retypes a field', () => {
    const code = TRAIN_KERNELS.matmul.code;
    const { m, n, ...rest } = MATMUL_PARAMS;
    expect(() => checkStruct(code, 'MatmulParams', { n, m, ...rest })).toThrow(/MatmulParams/);
    expect(() => checkStruct(code, 'MatmulParams', { ...MATMUL_PARAMS, alpha: 'u32' })).toThrow(/alpha: f32/);
    expect(() => checkStruct(code, 'NoSuchParams', MATMUL_PARAMS)).toThrow(/no struct NoSuchParams/);
  });

  it('packs fields in order as 4-byte little-endian scalars, padded to 16 bytes', () => {
    const buf = packParams(MATMUL_PARAMS, { m: 3, n: 5, k: 7, transA: 0, transB: 1, accumulate: 1, alpha: 0.5 });
    expect(buf.byteLength).toBe(32);
    const v = new DataView(buf);
    expect([0, 1, 2, 3, 4, 5].map((i) => v.getUint32(4 * i, true))).toEqual([3, 5, 7, 0, 1, 1]);
    expect(v.getFloat32(24, true)).toBe(0.5);
    expect(() => packParams(MATMUL_PARAMS, { m: -1, n: 5, k: 7, transA: 0, transB: 1, accumulate: 1, alpha: 0.5 })).toThrow(/m = -1/);
    expect(() => packParams(MATMUL_PARAMS, { m: 1, n: 5, k: 7, transA: 0, transB: 1, accumulate: 1, alpha: NaN })).toThrow(/alpha/);
  });
});
