import { describe, expect, it } from 'vitest';
import { FormatError, type FormatCheck } from './errors.ts';
import { parseHeader, parseSafetensors, serializeSafetensors, writeSafetensorsRanges, writeSafetensorsStream } from './safetensors.ts';
import {
  DEFAULT_MAX_SHARD_BYTES,
  SLM_KEYS,
  openSlm,
  readSlm,
  shardFileName,
  speciesId,
  speciesSignature,
  writeSlm,
  writeSlmShards,
} from './slm.ts';
import { bytesSource, hashSource } from './source.ts';
import { importFile, importHfSharded, scanNonFinite, tensorHashes, toSlm } from './model.ts';
import { writeHfIndex, parseHfIndex } from './hf-index.ts';
import { parseManifestJson } from './json.ts';
import { mulberry } from './testing.ts';
import { sha256Hex } from '../hash.ts';
import { byteLength, fromFloat32, type DType, type Tensor } from '../tensor.ts';

const enc = new TextEncoder();

function randomTensor(
  rand: () => number,
  name: string,
  dtype: DType = 'F32',
  shape: number[] = [1 + Math.floor(rand() * 5), 1 + Math.floor(rand() * 4)],
): Tensor {
  const data = new Uint8Array(byteLength(dtype, shape));
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
  if (dtype === 'F32')
    return fromFloat32(
      name,
      shape,
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1),
    );
  return { name, dtype, shape, data };
}

/** A file from a raw header object and data bytes (for hand-made corrupt files). */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const json = enc.encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function refusedWith(f: () => unknown, check: FormatCheck): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a FormatError(${check})`).toBeInstanceOf(FormatError);
  expect((err as FormatError).check).toBe(check);
  expect((err as FormatError).message).not.toContain('\n');
}

describe('safetensors checks', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'U8', shape: [4], data_offsets: [8, 12] } };
  const data = new Uint8Array(12);

  it('accepts a valid file in any key order and reads every dtype', () => {
    expect(parseSafetensors(rawFile(ok, data)).tensors.map((t) => t.name)).toEqual(['a', 'b']);
    const rand = mulberry(1);
    const ts = (['F32', 'F16', 'BF16', 'I8', 'U8', 'I4'] as const).map((d, i) => randomTensor(rand, `t${i}`, d, [3, 3]));
    const back = parseSafetensors(serializeSafetensors(ts)).tensors;
    expect(back.map((t) => [t.name, t.dtype, t.shape, sha256Hex(t.data)])).toEqual(
      ts.map((t) => [t.name, t.dtype, t.shape, sha256Hex(t.data)]),
    );
    expect(back.find((t) => t.dtype === 'I4')!.data.length).toBe(5); // 9 nibbles, packed
  });

  it('names each failed check', () => {
    refusedWith(() => parseSafetensors(new Uint8Array(5)), 'file-length');
    refusedWith(() => parseSafetensors(rawFile(ok, data).subarray(0, 30)), 'header-length');
    refusedWith(() => parseSafetensors(rawFile(ok, data).subarray(0, rawFile(ok, data).length - 1)), 'file-length');
    refusedWith(() => parseSafetensors(rawFile(null, data, '{"a": ')), 'header-json');
    refusedWith(
      () =>
        parseSafetensors(
          rawFile(
            null,
            data,
            '{"a":{"dtype":"U8","shape":[12],"data_offsets":[0,12]},"a":{"dtype":"U8","shape":[12],"data_offsets":[0,12]}}',
          ),
        ),
      'header-json',
    );
    refusedWith(
      () => parseSafetensors(rawFile(null, data, '{"__proto__":{"dtype":"U8","shape":[12],"data_offsets":[0,12]}}')),
      'header-json',
    );
    refusedWith(() => parseSafetensors(rawFile({ a: { ...ok.a, extra: 1 }, b: ok.b }, data)), 'header-keys');
    refusedWith(() => parseSafetensors(rawFile({ a: { ...ok.a, dtype: 'F64' }, b: ok.b }, data)), 'dtype');
    refusedWith(() => parseSafetensors(rawFile({ a: { ...ok.a, shape: [-2] }, b: ok.b }, data)), 'shape');
    refusedWith(() => parseSafetensors(rawFile({ a: { ...ok.a, shape: [3] }, b: ok.b }, data)), 'size');
    refusedWith(() => parseSafetensors(rawFile({ a: { ...ok.a, shape: [2 ** 41] }, b: ok.b }, data)), 'dimension');
    refusedWith(
      () => parseSafetensors(rawFile({ a: { ...ok.a, data_offsets: [0, 8] }, b: { ...ok.b, data_offsets: [4, 8] } }, data)),
      'overlap',
    );
    refusedWith(
      () => parseSafetensors(rawFile({ a: { ...ok.a, data_offsets: [2, 10] }, b: { ...ok.b, shape: [2], data_offsets: [10, 12] } }, data)),
      'coverage',
    );
    refusedWith(() => parseSafetensors(rawFile({ a: ok.a, b: { ...ok.b, data_offsets: [40, 44] } }, data)), 'coverage');
    refusedWith(() => parseSafetensors(rawFile({ a: { ...ok.a, data_offsets: [8, 0] }, b: ok.b }, data)), 'offsets');
    refusedWith(
      () =>
        parseSafetensors(
          rawFile(
            {
              a: { ...ok.a, data_offsets: [0, 8], dtype: 'U8', shape: [8] },
              b: { ...ok.b, data_offsets: [8, 108], shape: [100] },
              c: { dtype: 'U8', shape: [1], data_offsets: [108, 109] },
            },
            data,
          ),
        ),
      'offsets',
    );
    refusedWith(() => parseSafetensors(rawFile({ __metadata__: { k: 1 }, ...ok }, data)), 'metadata');
  });

  it('streams the same bytes it serializes', async () => {
    const rand = mulberry(2);
    const ts = Array.from({ length: 7 }, (_, i) => randomTensor(rand, `layer.${6 - i}.w`));
    const parts: Uint8Array[] = [];
    const byName = new Map(ts.map((t) => [t.name, t.data]));
    for await (const p of writeSafetensorsStream(ts, (n) => byName.get(n)!, { note: 'x' })) parts.push(p);
    const joined = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      joined.set(p, o);
      o += p.length;
    }
    expect(sha256Hex(joined)).toBe(sha256Hex(serializeSafetensors(ts, { note: 'x' })));
    expect(parseHeader(joined, joined.length).dataStart % 8).toBe(0);
  });

  it('streams the same bytes read by range, a few bytes at a time, and refuses a short read', async () => {
    const rand = mulberry(4);
    const ts = Array.from({ length: 5 }, (_, i) => randomTensor(rand, `layer.${4 - i}.w`));
    const byName = new Map(ts.map((t) => [t.name, t.data]));
    const parts: Uint8Array[] = [];
    let largest = 0;
    const read = async (n: string, at: number, len: number) => byName.get(n)!.subarray(at, at + len);
    for await (const p of writeSafetensorsRanges(ts, read, { note: 'x' }, 7)) parts.push(p);
    for (const p of parts.slice(1)) largest = Math.max(largest, p.length);
    expect(largest).toBe(7);
    expect(sha256Hex(Buffer.concat(parts))).toBe(sha256Hex(serializeSafetensors(ts, { note: 'x' })));
    const short = async (n: string, at: number, len: number) => byName.get(n)!.subarray(at, at + len - 1);
    await expect(async () => {
      for await (const p of writeSafetensorsRanges(ts, short, {}, 7)) void p;
    }).rejects.toThrow(/expected 7/);
  });
});

describe('.slm', () => {
  const rand = mulberry(3);
  const tensors = Array.from({ length: 20 }, (_, i) => randomTensor(rand, `block.${String(i).padStart(2, '0')}.weight`, 'F32', [16, 16]));
  const species = speciesId(speciesSignature(tensors, '', ['a', 'b']));
  const model = { tensors, read: (n: string) => tensors.find((t) => t.name === n)!.data };

  it('keeps the existing writeSlm/readSlm behaviour and checks the recorded species', () => {
    const f = readSlm(writeSlm(tensors, { species }));
    expect(f.species).toBe(species);
    expect([f.shard, f.shards]).toEqual([0, 1]);
    const withGraph = writeSlm(tensors, { species, graph: '', vocabulary: ['a', 'b'] });
    expect(readSlm(withGraph).metadata[SLM_KEYS.vocabulary]).toBe('["a","b"]');
    refusedWith(() => readSlm(writeSlm(tensors, { species, graph: '', vocabulary: ['a', 'c'] })), 'species');
    refusedWith(() => readSlm(withGraph, { expectedHash: '0'.repeat(64) }), 'hash');
    refusedWith(() => readSlm(serializeSafetensors(tensors)), 'metadata');
    refusedWith(() => readSlm(writeSlm(tensors, { species, shard: 1, shards: 1 })), 'metadata');
    refusedWith(
      () =>
        readSlm(
          serializeSafetensors(tensors, {
            [SLM_KEYS.format]: '1',
            [SLM_KEYS.species]: species,
            [SLM_KEYS.shard]: '0',
            [SLM_KEYS.shards]: '1',
            'slm.evil': 'x',
          }),
        ),
      'metadata',
    );
  });

  it('streams into shards under the limit and reads them back in any order', async () => {
    const limit = 4096; // each tensor is 1 KiB of data
    const shards = await writeSlmShards(model, { species, graph: '', vocabulary: ['a', 'b'], maxShardBytes: limit });
    expect(shards.length).toBeGreaterThan(4);
    for (const s of shards) expect(s.bytes.length).toBeLessThanOrEqual(limit);
    const reversed = shards.map((s) => bytesSource(s.bytes)).reverse();
    const m = await openSlm(reversed, { expectedHashes: shards.map((s) => s.hash) }); // hashes in shard order
    expect(m.species).toBe(species);
    for (const t of tensors) expect(sha256Hex(await m.read(t.name))).toBe(sha256Hex(t.data));
    // a missing shard, a duplicated shard, a wrong hash
    await expect(openSlm(reversed.slice(1))).rejects.toMatchObject({ check: 'shards' });
    await expect(openSlm([reversed[0], ...reversed.slice(0, -1)])).rejects.toMatchObject({ check: 'shards' });
    await expect(openSlm(reversed, { expectedHashes: [...shards].reverse().map((s) => s.hash) })).rejects.toMatchObject({ check: 'hash' });
    expect(shardFileName('m', 1, 3)).toBe('m-00002-of-00003.slm');
    expect(DEFAULT_MAX_SHARD_BYTES).toBe(64 * 2 ** 20);
  });

  it('import → export → import gives identical hashes (single and sharded)', async () => {
    for (const maxShardBytes of [DEFAULT_MAX_SHARD_BYTES, 3000]) {
      const file = serializeSafetensors(tensors, { origin: 'test' });
      const a = await importFile(bytesSource(file));
      expect(a.format).toBe('safetensors');
      const shards1 = await writeSlmShards(a, {
        species: a.species,
        graph: a.graphHash,
        vocabulary: a.vocabulary,
        extra: a.metadata,
        maxShardBytes,
      });
      const viaToSlm: Uint8Array[][] = [];
      for await (const c of toSlm(a, { maxShardBytes })) (viaToSlm[c.shard] ??= []).push(c.bytes);
      expect(viaToSlm.length).toBe(shards1.length);
      const b =
        shards1.length === 1
          ? await importFile(bytesSource(shards1[0].bytes))
          : await (await import('./model.ts')).importSlm(shards1.map((s) => bytesSource(s.bytes)));
      expect(b.format).toBe('slm');
      expect(b.species).toBe(a.species);
      expect([...(await tensorHashes(b))]).toEqual([...(await tensorHashes(a))]);
      // export back to plain safetensors: byte-identical to the original (same metadata, same order)
      const exported = serializeSafetensors(
        await Promise.all(b.tensors.map(async (t) => ({ ...t, data: await b.read(t.name) }))),
        b.metadata,
      );
      expect(sha256Hex(exported)).toBe(sha256Hex(file));
      const c = await importFile(bytesSource(exported));
      expect(c.species).toBe(a.species);
      const shards2 = await writeSlmShards(c, {
        species: c.species,
        graph: c.graphHash,
        vocabulary: c.vocabulary,
        extra: c.metadata,
        maxShardBytes,
      });
      expect(shards2.map((s) => s.hash)).toEqual(shards1.map((s) => s.hash));
    }
  });

  it('an exported safetensors file is read by an independent minimal reader', async () => {
    const file = serializeSafetensors(tensors);
    // Independent reader: only DataView + JSON.parse, no project code.
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<
      string,
      { dtype: string; shape: number[]; data_offsets: [number, number] }
    >;
    for (const t of tensors) {
      const h = header[t.name];
      expect(h.dtype).toBe('F32');
      expect(h.shape).toEqual(t.shape);
      const bytes = file.slice(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]);
      expect(Array.from(new Float32Array(bytes.buffer))).toEqual(Array.from(new Float32Array(t.data.slice().buffer)));
    }
    expect(await hashSource(bytesSource(file), 7)).toBe(sha256Hex(file));
  });

  it('flags NaN/Inf weights without refusing the file', async () => {
    const bad = fromFloat32('bad', [4], Float32Array.from([1, NaN, Infinity, -Infinity]));
    const m = await importFile(bytesSource(serializeSafetensors([bad, tensors[0]])));
    const r = await scanNonFinite(m);
    expect(r.finite).toBe(false);
    expect(r.flagged).toEqual([{ name: 'bad', nan: 1, posInf: 1, negInf: 1, elements: 4 }]);
    expect((await scanNonFinite({ tensors: [tensors[0]], read: () => tensors[0].data })).finite).toBe(true);
  });
});

describe('Hugging Face sharded safetensors', () => {
  const rand = mulberry(4);
  const tensors = Array.from({ length: 6 }, (_, i) => randomTensor(rand, `w${i}`));
  const files = new Map([
    ['model-00001-of-00002.safetensors', serializeSafetensors(tensors.slice(0, 3))],
    ['model-00002-of-00002.safetensors', serializeSafetensors(tensors.slice(3))],
  ]);
  const index = writeHfIndex([
    { file: 'model-00001-of-00002.safetensors', tensors: tensors.slice(0, 3), dataSize: 0 },
    { file: 'model-00002-of-00002.safetensors', tensors: tensors.slice(3), dataSize: 0 },
  ]);
  const open = async (f: string) => {
    const b = files.get(f);
    if (!b) throw new FormatError('index', `no file ${f}`);
    return bytesSource(b);
  };

  it('imports through the weight_map and matches the single-file import', async () => {
    const m = await importHfSharded(index, open);
    const single = await importFile(bytesSource(serializeSafetensors(tensors)));
    expect(m.species).toBe(single.species);
    expect([...(await tensorHashes(m))]).toEqual([...(await tensorHashes(single))]);
  });

  it('refuses a weight_map that disagrees with the shards or escapes the directory', async () => {
    const j = JSON.parse(index);
    j.weight_map.w0 = 'model-00002-of-00002.safetensors';
    await expect(importHfSharded(JSON.stringify(j), open)).rejects.toMatchObject({ check: 'index' });
    const k = JSON.parse(index);
    k.weight_map.w9 = 'model-00001-of-00002.safetensors';
    await expect(importHfSharded(JSON.stringify(k), open)).rejects.toMatchObject({ check: 'index' });
    refusedWith(() => parseHfIndex('{"weight_map":{"a":"../etc/passwd"}}'), 'index');
    refusedWith(() => parseHfIndex('{"weight_map":{"a":"x"},"extra":1}'), 'index');
    refusedWith(() => parseHfIndex('{"weight_map":{"a":"x","a":"y"}}'), 'index');
  });
});

describe('manifest-like JSON', () => {
  it('refuses unknown, missing, duplicate and prototype-polluting keys', () => {
    const spec = { required: ['kind', 'version'], optional: ['note'] };
    expect(parseManifestJson('{"kind":"x","version":1}', spec)).toEqual({ kind: 'x', version: 1 });
    refusedWith(() => parseManifestJson('{"kind":"x","version":1,"evil":2}', spec), 'json-keys');
    refusedWith(() => parseManifestJson('{"kind":"x"}', spec), 'json-keys');
    refusedWith(() => parseManifestJson('{"kind":"x","version":1,"note":{"__proto__":{"polluted":1}}}', spec), 'json-keys');
    refusedWith(() => parseManifestJson('{"kind":"x","version":1,"note":{"constructor":1}}', spec), 'json-keys');
    refusedWith(() => parseManifestJson('{"kind":"x","kind":"y","version":1}', spec), 'json-keys');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
