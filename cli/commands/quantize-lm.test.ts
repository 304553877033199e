/**
 * `garden quantize` on a language model (a Hugging Face folder or its imported .slm), then
 * `garden generate` on the result: the ONNX decoder (in-graph DequantizeLinear) and the reference
 * (on the dequantized weights) give the same greedy tokens and prompt logits within 1e-4.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { hfFolderFiles, tinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { readSlm } from '../../src/core/format/slm.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-quantize-lm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ck = tinyCheckpoint({ hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, scale: 1 });
const folder = join(root, 'llama');
const slm = join(root, 'llama.slm');

beforeAll(async () => {
  mkdirSync(folder);
  for (const [name, bytes] of hfFolderFiles(ck)) writeFileSync(join(folder, name), bytes);
  const r = await runGarden('import', folder, '--out', slm);
  expect(r.code, r.err).toBe(0);
});

interface Out {
  ids: number[];
  logits: number[];
}
async function gen(model: string, ...args: string[]): Promise<Out> {
  const r = await runGarden('generate', model, '--ids', '0,5,17,42,9', '--max-new', '8', '--greedy', '--json', ...args);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Out;
}
const maxDiff = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('garden quantize on a language model', () => {
  for (const scheme of ['int8', 'int4']) {
    it(`${scheme}: the .slm runs quantized in garden generate, equal to the reference on its dequantized weights`, async () => {
      const out = join(root, `llama-${scheme}.slm`);
      const r = await runGarden('quantize', slm, '--scheme', scheme, '--block', '32', '--out', out, '--json');
      expect(r.code, r.err).toBe(0);
      const res = JSON.parse(r.out) as { quantized: number; bytes: number };
      expect(res.quantized).toBe(2 * 7 + 1);
      const file = readSlm(readFileSync(out));
      expect(file.tensors.find((t) => t.name === 'lm_head.weight.q')?.dtype).toBe(scheme === 'int8' ? 'I8' : 'I4');
      expect(file.tensors.find((t) => t.name === 'model.embed_tokens.weight')?.dtype).toBe('F32');
      expect(file.tensors.some((t) => t.name === 'model.layers.0.mlp.down_proj.weight')).toBe(false);

      const onnx = await gen(out);
      const ref = await gen(out, '--runtime', 'reference');
      expect(onnx.ids).toEqual(ref.ids);
      const err = maxDiff(onnx.logits, ref.logits);
      expect(err).toBeLessThan(1e-4);
      // The fused decoder: MatMulNBits on every linear weight (block 32 divides 64 and 96).
      const fused = await gen(out, '--decoder', 'fused');
      expect(fused.ids).toEqual(ref.ids);
      expect(maxDiff(fused.logits, ref.logits)).toBeLessThan(1e-4);
      const f32 = await gen(slm, '--runtime', 'reference');
      const vsF32 = maxDiff(ref.logits, f32.logits);
      console.log(`${scheme}: ${res.bytes} bytes; |onnx − ref(dequantized)| ${err.toExponential(2)}; vs f32 ${vsF32.toExponential(2)}`);
      expect(vsF32).toBeGreaterThan(err);
    });
  }

  it('takes the Hugging Face folder too (same tensors as from its .slm), and refuses a quantized input', async () => {
    const a = join(root, 'a.slm');
    const b = join(root, 'b.slm');
    expect((await runGarden('quantize', folder, '--scheme', 'int8', '--out', a)).code).toBe(0);
    expect((await runGarden('quantize', slm, '--scheme', 'int8', '--out', b)).code).toBe(0);
    const ta = readSlm(readFileSync(a));
    const tb = readSlm(readFileSync(b));
    expect(ta.species).toBe(tb.species);
    expect(ta.tensors.map((t) => [t.name, Buffer.from(t.data).toString('hex')])).toEqual(
      tb.tensors.map((t) => [t.name, Buffer.from(t.data).toString('hex')]),
    );
    const again = await runGarden('quantize', a, '--scheme', 'int4', '--out', join(root, 'c.slm'));
    expect(again.code).not.toBe(0);
    expect(again.err).toMatch(/already quantized/);
  });
});
