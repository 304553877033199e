/** The content hash of every tensor a `.slm` records (slm.tensors), and species bound, recomputed, never trusted. */
import { describe, expect, it } from 'vitest';
import { FormatError } from './errors.ts';
import { serializeSafetensors } from './safetensors.ts';
import { SLM_KEYS, checkClaimedSpecies, openSlm, readSlm, speciesId, speciesSignature, writeSlm, writeSlmShards } from './slm.ts';
import { bytesSource } from './source.ts';
import { mulberry } from './testing.ts';
import { sha256Hex } from '../hash.ts';
import { fromFloat32, type Tensor } from '../tensor.ts';

const model = (seed: number): Tensor[] => {
  const r = mulberry(seed);
  return ['a.weight', 'a.bias', 'b.weight'].map((n, i) =>
    fromFloat32(
      n,
      i === 1 ? [4] : [4, 4],
      Float32Array.from({ length: i === 1 ? 4 : 16 }, () => r() - 0.5),
    ),
  );
};
const vocab = ['x', 'y', 'z', 'w'];
const speciesOf = (t: Tensor[]) => speciesId(speciesSignature(t, '', vocab));
const checkOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof FormatError) return e.check;
    throw e;
  }
  return null;
};
/** The byte offset of tensor data in a safetensors file. */
const dataStart = (b: Uint8Array) => 8 + new DataView(b.buffer, b.byteOffset).getUint32(0, true);

describe('slm.tensors: a content hash of every tensor', () => {
  const t = model(1);
  const bytes = writeSlm(t, { species: speciesOf(t), graph: '', vocabulary: vocab });

  it('is written for every tensor and read back', () => {
    const f = readSlm(bytes);
    expect(JSON.parse(f.metadata[SLM_KEYS.tensors])).toEqual(
      Object.fromEntries([...t].sort((x, y) => (x.name < y.name ? -1 : 1)).map((x) => [x.name, sha256Hex(x.data)])),
    );
  });

  it('a flipped low bit in any tensor byte is refused by name, on a whole read and on a streamed one', async () => {
    const start = dataStart(bytes);
    for (let off = start; off < bytes.length; off += 7) {
      const bad = bytes.slice();
      bad[off] ^= 1;
      expect(checkOf(() => readSlm(bad))).toBe('content-hash');
    }
    const bad = bytes.slice();
    bad[bytes.length - 1] ^= 1;
    const m = await openSlm([bytesSource(bad)]);
    const names = m.tensors.map((x) => x.name);
    const results = await Promise.allSettled(names.map((n) => m.readTensor(n)));
    expect(results.map((r) => r.status)).toEqual(names.map((n, i) => (i === names.length - 1 ? 'rejected' : 'fulfilled')));
    expect((results[names.length - 1] as PromiseRejectedResult).reason.message).toMatch(
      /^content-hash check failed: tensor "b\.weight" hashes to [0-9a-f]{64} but slm\.tensors records [0-9a-f]{64}: its bytes were changed$/,
    );
  });

  it('a hash map that names another tensor, or misses one, is refused', () => {
    const meta = readSlm(bytes).metadata;
    const map = JSON.parse(meta[SLM_KEYS.tensors]);
    const renamed = { ...map, 'c.weight': map['b.weight'] };
    delete renamed['b.weight'];
    expect(checkOf(() => readSlm(serializeSafetensors(t, { ...meta, [SLM_KEYS.tensors]: JSON.stringify(renamed) })))).toBe('content-hash');
    const missing = { ...map };
    delete missing['a.bias'];
    expect(checkOf(() => readSlm(serializeSafetensors(t, { ...meta, [SLM_KEYS.tensors]: JSON.stringify(missing) })))).toBe('content-hash');
    expect(checkOf(() => readSlm(serializeSafetensors(t, { ...meta, [SLM_KEYS.tensors]: '{"a.bias": "nope"}' })))).toBe('metadata');
  });

  it('a file written before content hashes (no slm.tensors) is still read; its next write carries them', () => {
    const meta = { ...readSlm(bytes).metadata };
    delete meta[SLM_KEYS.tensors];
    const legacy = serializeSafetensors(t, meta);
    const f = readSlm(legacy);
    expect(f.metadata[SLM_KEYS.tensors]).toBeUndefined();
    const again = readSlm(writeSlm(f.tensors, { species: f.species, graph: '', vocabulary: vocab }));
    expect(again.metadata[SLM_KEYS.tensors]).toBe(readSlm(bytes).metadata[SLM_KEYS.tensors]);
  });

  it("the streaming writer records each shard's own tensors", async () => {
    const shards = await writeSlmShards(
      { tensors: t, read: (n) => t.find((x) => x.name === n)!.data },
      { species: speciesOf(t), graph: '', vocabulary: vocab, maxShardBytes: 200 },
    );
    expect(shards.length).toBeGreaterThan(1);
    const m = await openSlm(shards.map((s) => bytesSource(s.bytes)));
    for (const x of t) expect(sha256Hex((await m.readTensor(x.name)).data)).toBe(sha256Hex(x.data));
    const counts = shards.map((s) => Object.keys(JSON.parse(readSlm(s.bytes).metadata[SLM_KEYS.tensors])).length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(t.length);
  });
});

describe('species bound to graph and vocabulary, recomputed', () => {
  const t = model(2);
  it('a graph without a vocabulary (or the reverse) is refused: bound to both or to neither', () => {
    expect(checkOf(() => readSlm(writeSlm(t, { species: speciesOf(t), graph: '' })))).toBe('species');
    expect(checkOf(() => readSlm(writeSlm(t, { species: speciesOf(t), vocabulary: vocab })))).toBe('species');
  });

  it('a renamed tensor or a stamped species is refused when graph and vocabulary are recorded', () => {
    const renamed = t.map((x, i) => (i === 0 ? { ...x, name: 'a.weigth' } : x));
    expect(checkOf(() => readSlm(writeSlm(renamed, { species: speciesOf(t), graph: '', vocabulary: vocab })))).toBe('species');
  });

  it('checkClaimedSpecies: a model of another species stamped with this one is refused', () => {
    const other = [fromFloat32('m.weight', [2, 3], new Float32Array(6))];
    expect(() => checkClaimedSpecies(speciesOf(t), t, '', vocab)).not.toThrow();
    expect(checkOf(() => checkClaimedSpecies(speciesOf(t), other, '', vocab, 'the mail model'))).toBe('species');
    expect(checkOf(() => checkClaimedSpecies(speciesOf(t), t, '', ['x', 'y'], 'x'))).toBe('species');
  });
});
