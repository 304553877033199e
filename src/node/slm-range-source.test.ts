import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSlm, speciesId, speciesSignature, writeSlm } from '../core/format/slm.ts';
import { serializeSafetensors } from '../core/format/safetensors.ts';
import { fromFloat32 } from '../core/tensor.ts';
import { ReadClock, openSlmRange } from './slm-range-source.ts';

const dir = mkdtempSync(join(tmpdir(), 'slm-range-'));
const tensors = [
  fromFloat32('b', [3], new Float32Array([1, 2, 3])),
  fromFloat32(
    'a',
    [2, 4],
    Float32Array.from({ length: 8 }, (_, i) => i / 8),
  ),
];
const bytes = writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', [])), graph: '', vocabulary: [] });
const path = join(dir, 'm.slm');
writeFileSync(path, bytes);

describe('openSlmRange', () => {
  it('reads every tensor by range as readSlm gives it whole, with the same hash, species and order', async () => {
    const whole = readSlm(bytes);
    const clock = new ReadClock();
    const m = (await openSlmRange(path, 'parent 0', clock))!;
    try {
      expect(m.hash).toBe(whole.hash);
      expect(m.species).toBe(whole.species);
      expect(m.tensors.map((t) => t.name)).toEqual(whole.tensors.map((t) => t.name));
      for (const t of whole.tensors) {
        expect(await m.source.read(t.name, 0, t.data.length)).toEqual(t.data);
        expect(await m.source.read(t.name, 4, 8)).toEqual(t.data.subarray(4, 12));
      }
      await expect(m.source.read('a', 28, 8)).rejects.toThrow(/outside "a"/);
      expect(clock.ms()).toBeGreaterThan(0);
    } finally {
      await m.close();
    }
  });

  it('refuses a file whose tensor bytes no longer match slm.tensors, naming the tensor', async () => {
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 1;
    const p = join(dir, 'flipped.slm');
    writeFileSync(p, flipped);
    await expect(openSlmRange(p, 'parent 1')).rejects.toThrow(/parent 1 .*content-hash check failed: tensor "b" hashes to/);
  });

  it('gives null for what is not a one-file .slm (plain safetensors, a folder): the caller reads it whole', async () => {
    const p = join(dir, 'plain.safetensors');
    writeFileSync(p, serializeSafetensors(tensors));
    expect(await openSlmRange(p, 'parent 0')).toBeNull();
    expect(await openSlmRange(dir, 'parent 0')).toBeNull();
  });
});
