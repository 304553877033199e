/**
 * A foreign ONNX model shipped in an npm package (Silero VAD in @ricky0123/vad-web) imports,
 * stores, and runs in onnxruntime-web from the stored artifact with the same outputs as the
 * original file on a fixed input.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import 'fake-indexeddb/auto';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { importOnnxModel, loadTensors } from '../core/format/model.ts';
import { decodeOnnx, externalRefs } from '../core/format/onnx.ts';
import { readSlm, writeSlmShards } from '../core/format/slm.ts';
import { sha256Hex } from '../core/hash.ts';
import { openIdbTensorStore } from './idb-store.ts';
import { loadRunnable, storeImported } from './import.ts';

ort.env.wasm.numThreads = 1;

const require = createRequire(import.meta.url);
const dist = join(dirname(require.resolve('@ricky0123/vad-web/package.json')), 'dist');

/** A fixed, deterministic input: a chirp with a little seeded noise. */
function chirp(n: number): Float32Array {
  const x = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = 0.5 * Math.sin((i * i) / 4000) + (s / 2 ** 32 - 0.5) * 0.05;
  }
  return x;
}

type Feeds = Record<string, ort.Tensor>;

async function runAll(session: ort.InferenceSession, feeds: Feeds): Promise<Record<string, number[]>> {
  const out = await session.run(feeds);
  const r: Record<string, number[]> = {};
  for (const k of Object.keys(out).sort()) r[k] = Array.from(out[k].data as Float32Array);
  return r;
}

const CASES = [
  {
    file: 'silero_vad_legacy.onnx',
    feeds: (): Feeds => ({
      input: new ort.Tensor('float32', chirp(1536), [1, 1536]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
      h: new ort.Tensor('float32', new Float32Array(128).fill(0.01), [2, 1, 64]),
      c: new ort.Tensor('float32', new Float32Array(128).fill(-0.02), [2, 1, 64]),
    }),
  },
  {
    file: 'silero_vad_v5.onnx',
    feeds: (): Feeds => ({
      input: new ort.Tensor('float32', chirp(512), [1, 512]),
      state: new ort.Tensor('float32', new Float32Array(256).fill(0.01), [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    }),
  },
];

describe('Silero VAD from @ricky0123/vad-web', () => {
  for (const c of CASES) {
    it(`${c.file}: import → store → run gives the original outputs`, async () => {
      const original = new Uint8Array(readFileSync(join(dist, c.file)));
      const imported = await importOnnxModel(original);
      expect(imported.tensors.length).toBeGreaterThan(10);
      // The species graph is weight-free: every garden-dtype weight is an external reference by tensor name.
      const refs = externalRefs(imported.graph!);
      expect(refs.map((r) => r.location).sort()).toEqual(imported.tensors.map((t) => t.name).sort());
      expect(imported.graph!.length).toBeLessThan(original.length / 3);
      decodeOnnx(imported.graph!);

      const store = await openIdbTensorStore({ name: `silero-${c.file}` });
      const put = await storeImported(store, imported, { meta: { name: c.file, origin: '@ricky0123/vad-web' } });
      expect(put.created).toBe(true);
      const again = await storeImported(store, imported);
      expect(again).toMatchObject({ id: put.id, created: false });

      // The stored model also survives a .slm round trip with the same tensor hashes.
      const shards = await writeSlmShards(imported, {
        species: imported.species,
        graph: imported.graphHash,
        vocabulary: [],
        maxShardBytes: 256 * 1024,
      });
      const fromSlm = shards.flatMap((s) => readSlm(s.bytes).tensors);
      const tensors = await loadTensors(imported);
      expect(fromSlm.map((t) => [t.name, sha256Hex(t.data)]).sort()).toEqual(tensors.map((t) => [t.name, sha256Hex(t.data)]).sort());

      const runnable = await loadRunnable(store, put.id);
      const fromStore = await ort.InferenceSession.create(runnable.graph, { externalData: runnable.externalData });
      const reference = await ort.InferenceSession.create(original);
      const want = await runAll(reference, c.feeds());
      const got = await runAll(fromStore, c.feeds());
      expect(Object.keys(got)).toEqual(Object.keys(want));
      for (const k of Object.keys(want)) {
        expect(want[k].every(Number.isFinite)).toBe(true);
        expect(got[k]).toEqual(want[k]);
      }
      // Not a vacuous comparison: zeroed weights change the output.
      const zeroed = runnable.externalData.map((e) => ({ path: e.path, data: new Uint8Array(e.data.length) }));
      const broken = await runAll(await ort.InferenceSession.create(runnable.graph, { externalData: zeroed }), c.feeds());
      expect(broken).not.toEqual(want);
      await Promise.all([fromStore.release(), reference.release()]);
      store.close();
    });
  }
});
