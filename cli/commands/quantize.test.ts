import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildDigits, DIGITS_TINY } from '../../scripts/starter/digits.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { inspectOnnxGraph } from '../../src/core/models/onnx-graph.ts';
import { runGarden } from '../test-run.ts';
import { breed } from '../../src/core/operators/breed.ts';
import { cpuBackend } from '../../src/core/operators/backend.ts';
import { candidateSlm } from '../../src/core/operators/candidate.ts';

let dir = '';
let catalog = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-quantize-'));
  const build = buildDigits(DIGITS_TINY);
  for (const [rel, bytes] of build.files) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), bytes);
  }
  catalog = join(dir, 'catalog.json');
  writeFileSync(catalog, JSON.stringify({ version: 1, families: [build.entry] }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const garden = runGarden;

describe('garden quantize, then garden eval of the quantized candidate', () => {
  it('writes a smaller candidate with its own species and graph, which eval runs quantized', async () => {
    const base = join(dir, 'digits/base.slm');
    for (const [scheme, block, minRatio, op] of [
      ['int8', '32', 2.8, 'auto'], // whole files: each .slm header also carries a 64-hex content hash per tensor
      ['int4', '4', 2.3, 'dequantize-linear'], // a small block (one float32 scale per 2 bytes), and one that does not divide the 10 classes: the padded layout
    ] as const) {
      const out = join(dir, `q-${scheme}.slm`);
      const graphOut = join(dir, `q-${scheme}.onnx`);
      const q = await garden(
        'quantize',
        base,
        '--scheme',
        scheme,
        '--block',
        block,
        '--out',
        out,
        '--graph-out',
        graphOut,
        '--op',
        op,
        '--catalog',
        catalog,
        '--json',
      );
      expect(q.err).toBe('');
      expect(q.code).toBe(0);
      const r = JSON.parse(q.out);
      expect(r.ratio).toBeGreaterThan(minRatio);
      expect(r.op).toBe(op === 'auto' ? 'dequantize-linear' : op);
      const file = readSlm(new Uint8Array(readFileSync(out)));
      expect(file.species).toBe(r.species);
      expect(file.metadata['garden.quant.blockSize']).toBe(block);
      const graph = new Uint8Array(readFileSync(graphOut));
      expect(sha256Hex(graph)).toBe(r.graphHash);
      expect(
        inspectOnnxGraph(graph)
          .external.map((e) => e.location)
          .sort(),
      ).toEqual(file.tensors.map((t) => t.name).sort());

      const e = await garden('eval', out, '--suite', 'digits-test', '--catalog', catalog);
      expect(e.err).toBe('');
      expect(e.code).toBe(0);
      expect(e.out).toMatch(new RegExp(`family digits .*quantized ${scheme} block ${block}, dequantized in-graph \\(${r.op}\\)`));
      expect(e.out).toMatch(/smoke {2}passed/);
      expect(e.out).toMatch(/digits-test .*pinned; 50 rows.*accuracy 0\.\d+/);
    }
  });

  it('writes the bytes garden breed --family and the app write for the same quantization (one candidate writer)', async () => {
    const base = join(dir, 'digits/base.slm');
    const baseBytes = new Uint8Array(readFileSync(base));
    for (const [scheme, block, seed] of [
      ['int8', 16, 0],
      ['int4', 8, 7],
    ] as const) {
      const out = join(dir, `same-${scheme}.slm`);
      const q = await garden(
        'quantize',
        base,
        '--scheme',
        scheme,
        '--block',
        String(block),
        '--seed',
        String(seed),
        '--out',
        out,
        '--catalog',
        catalog,
        '--json',
      );
      expect(q.err).toBe('');
      const fromQuantize = new Uint8Array(readFileSync(out));
      // garden breed with a quantize recipe, given the family
      const recipe = join(dir, `same-${scheme}.json`);
      writeFileSync(
        recipe,
        JSON.stringify({
          kind: 'recipe',
          schemaVersion: 1,
          operator: 'quantize',
          params: { scheme, blockSize: block },
          seed,
          parents: [{ path: base }],
          output: { path: `same-${scheme}.breed.slm` },
        }),
      );
      const b = await garden('breed', recipe, '--family', 'digits', '--catalog', catalog, '--json');
      expect(b.err).toBe('');
      expect(b.code).toBe(0);
      expect(new Uint8Array(readFileSync(join(dir, `same-${scheme}.breed.slm`)))).toEqual(fromQuantize);
      // the app: breed() on the CPU backend, candidateSlm with the parent as the app passes it
      const parent = readSlm(baseBytes);
      const result = await breed(
        { operator: 'quantize', params: { scheme, blockSize: block }, seed, parents: [parent.tensors] },
        cpuBackend,
      );
      const graph = new Uint8Array(readFileSync(join(dir, 'digits/graph.onnx')));
      const labels = JSON.parse(readFileSync(catalog, 'utf8')).families[0].output.labels;
      const app = candidateSlm(result, [
        { hash: parent.hash, species: parent.species, tensors: parent.tensors, family: { graph, vocabulary: labels } },
      ]);
      expect(app.bytes).toEqual(fromQuantize);
      expect(JSON.parse(q.out)).toMatchObject({ hash: app.hash, species: app.species, lineage: app.lineageKey, seed });
      // another seed is another lineage, so other bytes (the tensors are the same)
      const other = await garden(
        'quantize',
        base,
        '--scheme',
        scheme,
        '--block',
        String(block),
        '--seed',
        String(seed + 1),
        '--out',
        join(dir, 'other.slm'),
        '--catalog',
        catalog,
        '--json',
      );
      expect(JSON.parse(other.out).hash).not.toBe(app.hash);
      expect(JSON.parse(other.out).species).toBe(app.species);
    }
    // without the family, garden breed writes a quantized file that binds no graph (not the same bytes)
    const b = await garden('breed', join(dir, 'same-int8.json'), '--out', join(dir, 'nofamily.slm'));
    expect(b.code).toBe(0);
    expect(readSlm(new Uint8Array(readFileSync(join(dir, 'nofamily.slm')))).hash).not.toBe(
      sha256Hex(new Uint8Array(readFileSync(join(dir, 'same-int8.slm')))),
    );
    // a parent of another family is refused by --family
    expect((await garden('breed', join(dir, 'same-int8.json'), '--family', 'nope', '--catalog', catalog)).err).toBe(
      'garden breed: unknown family "nope"; valid: digits',
    );
  });

  it('writes the cast lowering when asked, through the same candidate writer', async () => {
    const base = join(dir, 'digits/base.slm');
    const out = join(dir, 'cast.slm');
    const r = await garden('quantize', base, '--scheme', 'int8', '--op', 'cast', '--out', out, '--catalog', catalog);
    expect(r.code).toBe(0);
    expect(readSlm(new Uint8Array(readFileSync(out))).metadata['garden.quant.graphOp']).toBe('cast');
  });

  it('refuses bad arguments and an already quantized model with one line', async () => {
    const base = join(dir, 'digits/base.slm');
    const out = join(dir, 'x.slm');
    expect((await garden('quantize', base, '--scheme', 'int3', '--out', out, '--catalog', catalog)).err).toMatch(
      /unknown quantization scheme "int3"; valid: int8, int4/,
    );
    expect((await garden('quantize', base, '--scheme', 'int8', '--block', '2', '--out', out, '--catalog', catalog)).err).toMatch(
      /--block must be an integer in 4…4096, got 2/,
    );
    expect((await garden('quantize', base, '--scheme', 'int8', '--op', 'qdq', '--out', out, '--catalog', catalog)).err).toMatch(
      /unknown quantized graph op "qdq"; valid: auto, dequantize-linear, cast/,
    );
    expect((await garden('quantize', base, '--scheme', 'int8', '--catalog', catalog)).err).toMatch(/--out FILE.slm is required/);
    expect((await garden('quantize', base, '--scheme', 'int8', '--seed', '-1', '--out', out, '--catalog', catalog)).err).toBe(
      'garden quantize: option --seed needs a value; write --seed=VALUE for a value that starts with "-"',
    );
    expect((await garden('quantize', base, '--scheme', 'int8', '--seed=-1', '--out', out, '--catalog', catalog)).err).toBe(
      'garden quantize: --seed must be an integer in 0…4294967295, got -1',
    );
    expect((await garden('quantize', base, '--scheme', 'int8', '--seed', '1.5', '--out', out, '--catalog', catalog)).err).toBe(
      'garden quantize: --seed must be an integer in 0…4294967295, got 1.5',
    );
    await garden('quantize', base, '--scheme', 'int8', '--out', out, '--catalog', catalog);
    expect((await garden('quantize', out, '--scheme', 'int8', '--out', join(dir, 'y.slm'), '--catalog', catalog)).err).toMatch(
      /is already quantized/,
    );
  });
});
