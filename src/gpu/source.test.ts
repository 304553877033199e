import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  arraySource,
  byteRange,
  byteRangeSource,
  decodeRange,
  firstParents,
  iterableSource,
  readerSource,
  readWhole,
  storeSource,
} from './source.ts';
import { bytesSource } from '../core/format/source.ts';
import { fromFloat32, toFloat32, DTYPES, type DType } from '../core/tensor.ts';
import { mix32, randomUnit } from '../core/operators/prng.ts';

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => (randomUnit(mix32(seed), i) - 0.5) * 16);
const DTYPE_LIST = Object.keys(DTYPES) as DType[];

/** Random ranges [offset, offset + length) inside n. */
const ranges = (n: number) => fc.tuple(fc.nat(n), fc.nat(n)).map(([a, b]) => [Math.min(a, b), Math.abs(a - b)] as const);

describe('decodeRange / byteRange', () => {
  it('decodes any element range of any dtype like toFloat32 of the whole tensor', () => {
    const n = 777;
    for (const dtype of DTYPE_LIST) {
      const x = values(n, DTYPE_LIST.indexOf(dtype) + 1).map((v) =>
        dtype === 'I4'
          ? Math.max(-8, Math.min(7, Math.round(v / 2)))
          : dtype === 'U8'
            ? Math.abs(Math.round(v * 8))
            : dtype === 'I8'
              ? Math.round(v * 7)
              : v,
      );
      const t = fromFloat32('t', [n], x, dtype);
      const whole = toFloat32(t);
      fc.assert(
        fc.property(ranges(n), ([offset, len]) => {
          const [a, b] = byteRange(dtype, offset, len);
          const got = decodeRange(dtype, t.data.slice(a, b), offset, len);
          expect(Array.from(got)).toEqual(Array.from(whole.subarray(offset, offset + len)));
        }),
        { numRuns: 60 },
      );
    }
  });
});

describe('sources', () => {
  it('arraySource refuses parents of different lengths and ranges outside the tensor', async () => {
    expect(() => arraySource([new Float32Array(3), new Float32Array(4)])).toThrow(/parent 1 has 4 elements, parent 0 has 3/);
    const s = arraySource([new Float32Array(10)]);
    await expect(s.read(0, 8, 3)).rejects.toThrow(/outside the 10-element tensor/);
    await expect(s.read(1, 0, 1)).rejects.toThrow(/parent 1 is outside \[0, 1\)/);
  });

  it('readerSource checks what the reader answers', async () => {
    const s = readerSource(2, 100, (_p, _o, n) => new Float32Array(n + 1), 'short reader');
    await expect(s.read(0, 0, 10)).rejects.toThrow(/short reader: parent 0 at 0 gave 11 elements, expected 10/);
  });

  it('iterableSource gives any sequence of ranges, re-opening for ranges behind it', async () => {
    const n = 5_000;
    const xs = [values(n, 1), values(n, 2)];
    let opens = 0;
    const src = iterableSource(2, n, async function* (p) {
      opens++;
      for (let i = 0, k = 0; i < n; k++) {
        const len = Math.min(n - i, 1 + ((k * 37) % 700));
        yield xs[p].slice(i, i + len);
        i += len;
      }
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(1), ranges(n)), { minLength: 1, maxLength: 8 }), async (reads) => {
        for (const [p, [offset, len]] of reads) {
          expect(Array.from(await src.read(p, offset, len))).toEqual(Array.from(xs[p].subarray(offset, offset + len)));
        }
      }),
      { numRuns: 40 },
    );
    expect(opens).toBeGreaterThan(2);
    const short = iterableSource(1, 10, async function* () {
      yield new Float32Array(4);
    });
    await expect(short.read(0, 0, 10)).rejects.toThrow(/parent 0 ended after 4 of 10 elements/);
  });

  it('byteRangeSource and storeSource decode stored parents chunk by chunk', async () => {
    const n = 1_001;
    const x = [values(n, 3), values(n, 4)];
    const tensors = [fromFloat32('a', [n], x[0], 'F16'), fromFloat32('b', [n], x[1], 'BF16')];
    const file = new Uint8Array(tensors[0].data.length + tensors[1].data.length + 3);
    file.set(tensors[0].data, 3);
    file.set(tensors[1].data, 3 + tensors[0].data.length);
    const bytes = byteRangeSource(
      [
        { dtype: 'F16', source: bytesSource(file), begin: 3 },
        { dtype: 'BF16', source: bytesSource(file), begin: 3 + tensors[0].data.length },
      ],
      n,
    );
    const records = new Map([
      ['ha', tensors[0].data],
      ['hb', tensors[1].data],
    ]);
    let lookups = 0;
    const store = storeSource(
      { matchTensor: async (h) => (lookups++, records.get(h)) },
      [
        { hash: 'ha', dtype: 'F16' },
        { hash: 'hb', dtype: 'BF16' },
      ],
      n,
    );
    const expected = tensors.map(toFloat32);
    for (const src of [bytes, store]) {
      const whole = await readWhole(src, 97);
      expect(whole.map((w) => Array.from(w))).toEqual(expected.map((w) => Array.from(w)));
    }
    expect(lookups).toBe(2);
    const missing = storeSource({ matchTensor: async () => undefined }, [{ hash: 'nope', dtype: 'F32' }], 4);
    await expect(missing.read(0, 0, 4)).rejects.toThrow(/tensor nope is not in the store/);
  });

  it('firstParents keeps the first inputs and refuses more than there are', async () => {
    const s = arraySource([values(5, 1), values(5, 2)]);
    const one = firstParents(s, 1);
    expect(one.parents).toBe(1);
    expect(Array.from(await one.read(0, 1, 3))).toEqual(Array.from(values(5, 1).subarray(1, 4)));
    await expect(one.read(1, 0, 1)).rejects.toThrow(/parent 1 is outside/);
    expect(() => firstParents(s, 3)).toThrow(/need 3 inputs, the source has 2/);
  });
});
