import { describe, expect, it } from 'vitest';
import {
  CHARSET,
  charLmForward,
  charLmGraph,
  charLmToTensors,
  contextAt,
  decodeIds,
  encodeText,
  normalizeText,
  sampleContinuation,
  type CharLmParams,
} from './charlm.ts';
import { inspectOnnxGraph } from './onnx-graph.ts';
import { randomUnit, tensorKey } from '../operators/prng.ts';
import { createOrtSession, releaseSession, runSession } from '../../runtime/ort-session.ts';

function randomLm(seed: number): CharLmParams {
  const shape = { context: 3 + (seed % 3), embed: 2 + seed, hidden: 5 + seed, vocab: CHARSET.length };
  const r = (name: string, n: number) => Float32Array.from({ length: n }, (_, i) => randomUnit(tensorKey(seed, name), i) * 2 - 1);
  return {
    shape,
    emb: r('emb', shape.vocab * shape.embed),
    w1: r('w1', shape.context * shape.embed * shape.hidden),
    b1: r('b1', shape.hidden),
    w2: r('w2', shape.hidden * shape.vocab),
    b2: r('b2', shape.vocab),
  };
}

describe('character LM species', () => {
  it('normalises and round-trips text through the shared character set', () => {
    expect(normalizeText('Call  me\n“Ishmael” — ok…')).toBe('call me "ishmael" - ok');
    const ids = encodeText('It was 1851; "Whale"!');
    expect(decodeIds(ids)).toBe('it was 1851; "whale"!');
    for (const id of ids) expect(id).toBeLessThan(CHARSET.length);
    expect(() => decodeIds([CHARSET.length])).toThrow(/outside the character set/);
    expect(Array.from(contextAt([5, 6, 7], 2, 4))).toEqual([0, 0, 5, 6]);
  });

  it('the graph keeps every weight external, and onnxruntime matches the CPU forward pass', async () => {
    for (const seed of [1, 2]) {
      const p = randomLm(seed);
      const graph = charLmGraph(p.shape, 't');
      const info = inspectOnnxGraph(graph);
      expect(info.embeddedWeights).toEqual([]);
      expect(info.external.map((e) => e.location).sort()).toEqual(['embed.weight', 'fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
      const session = await createOrtSession(graph, charLmToTensors(p));
      const batch = 4;
      const ids = Int32Array.from({ length: batch * p.shape.context }, (_, i) =>
        Math.floor(randomUnit(tensorKey(seed, 'ids'), i) * CHARSET.length),
      );
      const got = await runSession(session, ids, batch, p.shape.context);
      const want = charLmForward(p, ids, batch);
      expect(got.length).toBe(batch * CHARSET.length);
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4);
      await releaseSession(session);
    }
  });

  it('sampling is a pure function of model, prompt and seed', async () => {
    const p = randomLm(3);
    const run = async (x: Float32Array, b: number) => charLmForward(p, x, b);
    const opts = { context: p.shape.context, length: 30, seed: 9 };
    const a = await sampleContinuation(run, 'the whale', opts);
    expect(await sampleContinuation(run, 'the whale', opts)).toBe(a);
    expect(a).toHaveLength(30);
    expect(await sampleContinuation(run, 'the whale', { ...opts, seed: 10 })).not.toBe(a);
  });
});
