import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { parse as parseYaml } from 'yaml';
import { mkdirSync } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../main.ts';
import { importOnnxModel, tensorHashes } from '../../src/core/format/model.ts';
import { serializeSafetensors } from '../../src/core/format/safetensors.ts';
import { writeHfIndex } from '../../src/core/format/hf-index.ts';
import { mulberry } from '../../src/core/format/testing.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { fromFloat32, type Tensor } from '../../src/core/tensor.ts';
import { writeAll } from '../../src/node/file-source.ts';

const { onnx } = onnxProto;
const dir = mkdtempSync(join(tmpdir(), 'garden-format-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function garden(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

function model(seed: number, n = 6): Tensor[] {
  const r = mulberry(seed);
  return Array.from({ length: n }, (_, i) =>
    fromFloat32(
      `layer.${i}.weight`,
      [8, 4],
      Float32Array.from({ length: 32 }, () => r() - 0.5),
    ),
  );
}

describe('garden inspect / import / export', () => {
  const tensors = model(1);
  const st = join(dir, 'plain.safetensors');
  writeFileSync(st, serializeSafetensors(tensors));

  it('inspect: a plain safetensors file has no species; NaN/Inf are flagged, not refused', async () => {
    const withNan = [...tensors, fromFloat32('bad', [2], Float32Array.from([NaN, 1]))];
    const p = join(dir, 'nan.safetensors');
    writeFileSync(p, serializeSafetensors(withNan));
    const r = await garden('inspect', p);
    expect(r.code).toBe(0);
    expect(r.out).toContain('species: not a .slm (no species)');
    expect(r.out).toContain(`sha256: ${sha256Hex(readFileSync(p))}`);
    expect(r.out).toMatch(/layer\.3\.weight\s+F32\s+\[8, 4\]/);
    expect(r.out).toContain('non-finite weights: FLAGGED in 1 tensors: bad (NaN 1');
  });

  it('import → inspect → export → import: identical hashes; safetensors export is byte-identical', async () => {
    const out = join(dir, 'out1');
    const imp = await garden('import', st, '--out', out, '--max-shard-bytes', '400');
    expect(imp.code).toBe(0);
    const shards = readdirSync(out)
      .filter((f) => f.endsWith('.slm'))
      .sort();
    expect(shards.length).toBeGreaterThan(2);
    expect(shards[0]).toBe(`plain-00001-of-${String(shards.length).padStart(5, '0')}.slm`);
    const summary = JSON.parse(readFileSync(join(out, 'plain.import.json'), 'utf8'));
    const ins = await garden('inspect', join(out, shards[1]));
    expect(ins.code).toBe(0);
    expect(ins.out).toContain(`species: ${summary.species}`);
    for (const t of tensors) expect(ins.out).toContain(t.name);

    const back = join(dir, 'back', 'model.safetensors');
    const exp = await garden(
      'export',
      join(out, shards[0]),
      '--format',
      'safetensors',
      '--out',
      back,
      '--card',
      '--base-model',
      'org/parent-a',
      '--base-model',
      'org/parent-b',
      '--method',
      'ties',
      '--license',
      'apache-2.0',
      '--tag',
      'demo',
    );
    expect(exp.code).toBe(0);
    expect(sha256Hex(readFileSync(back))).toBe(sha256Hex(readFileSync(st)));
    const card = readFileSync(join(dir, 'back', 'README.md'), 'utf8');
    const front = parseYaml(card.split('---')[1]);
    expect(front).toMatchObject({
      base_model: ['org/parent-a', 'org/parent-b'],
      merge_method: 'ties',
      license: 'apache-2.0',
      slm_species: summary.species,
    });
    expect(front.tags).toEqual(expect.arrayContaining(['merge', 'ties', 'demo', 'slm-garden']));

    const out2 = join(dir, 'out2');
    expect((await garden('import', back, '--out', out2, '--max-shard-bytes', '400')).code).toBe(0);
    const summary2 = JSON.parse(readFileSync(join(out2, 'model.import.json'), 'utf8'));
    expect(summary2.species).toBe(summary.species);
    expect(summary2.tensors).toEqual(summary.tensors);
    expect(summary2.shards.map((s: { sha256: string }) => s.sha256)).toEqual(summary.shards.map((s: { sha256: string }) => s.sha256));

    const slmOut = join(dir, 'resharded', 'one.slm');
    expect((await garden('export', join(out, shards[0]), '--format', 'slm', '--out', slmOut)).code).toBe(0);
    expect((await garden('inspect', slmOut)).out).toContain(`species: ${summary.species}`);
  });

  it('imports Hugging Face sharded safetensors through the index', async () => {
    const d = join(dir, 'hf');
    rmSync(d, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(d);
    writeFileSync(join(d, 'model-00001-of-00002.safetensors'), serializeSafetensors(tensors.slice(0, 3)));
    writeFileSync(join(d, 'model-00002-of-00002.safetensors'), serializeSafetensors(tensors.slice(3)));
    writeFileSync(
      join(d, 'model.safetensors.index.json'),
      writeHfIndex([
        { file: 'model-00001-of-00002.safetensors', tensors: tensors.slice(0, 3), dataSize: 384 },
        { file: 'model-00002-of-00002.safetensors', tensors: tensors.slice(3), dataSize: 384 },
      ]),
    );
    const out = join(dir, 'out-hf');
    expect((await garden('import', join(d, 'model.safetensors.index.json'), join(dir, 'plain.safetensors'), '--out', out)).code).toBe(0);
    const a = JSON.parse(readFileSync(join(out, 'model.import.json'), 'utf8'));
    const b = JSON.parse(readFileSync(join(out, 'plain.import.json'), 'utf8'));
    expect(a.format).toBe('safetensors-sharded');
    expect(a.species).toBe(b.species);
    expect(a.tensors).toEqual(b.tensors);
  });

  it('imports an ONNX model that keeps its weights as external data', async () => {
    const r = mulberry(5);
    const w = new Uint8Array(Float32Array.from({ length: 12 }, () => r()).buffer);
    const bias = new Uint8Array(Float32Array.from({ length: 4 }, () => r()).buffer);
    const bin = new Uint8Array(64 + w.length + bias.length);
    bin.set(w, 64);
    bin.set(bias, 64 + w.length);
    const ext = (off: number, len: number) => ({
      dataLocation: 1,
      externalData: [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: String(off) },
        { key: 'length', value: String(len) },
      ],
    });
    const graph = (inline: boolean) => ({
      name: 'g',
      node: [
        { opType: 'MatMul', input: ['x', 'W'], output: ['h'] },
        { opType: 'Add', input: ['h', 'B'], output: ['y'] },
      ],
      initializer: [
        { name: 'W', dims: [3, 4], dataType: 1, ...(inline ? { rawData: w } : ext(64, w.length)) },
        { name: 'B', dims: [4], dataType: 1, ...(inline ? { rawData: bias } : ext(64 + w.length, bias.length)) },
      ],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } } }],
    });
    const enc = (inline: boolean) =>
      new Uint8Array(
        onnx.ModelProto.encode(
          onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph: graph(inline) }),
        ).finish(),
      );
    const d = join(dir, 'onnx');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'tiny.onnx'), enc(false));
    writeFileSync(join(d, 'weights.bin'), bin);
    const out = join(dir, 'out-onnx');
    const res = await garden('import', join(d, 'tiny.onnx'), '--out', out);
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
    const s = JSON.parse(readFileSync(join(out, 'tiny.import.json'), 'utf8'));
    const inline = await importOnnxModel(enc(true));
    expect(s.species).toBe(inline.species); // same weight-free graph, same tensors
    expect(Object.fromEntries(Object.entries(s.tensors).map(([k, v]) => [k, (v as { sha256: string }).sha256]))).toEqual(
      Object.fromEntries(await tensorHashes(inline)),
    );
    expect(sha256Hex(readFileSync(join(out, 'tiny.graph.onnx')))).toBe(inline.graphHash);
    // external data that escapes the model's folder is refused
    const evil = enc(false);
    writeFileSync(
      join(d, 'evil.onnx'),
      Buffer.from(Buffer.from(evil).toString('latin1').replaceAll('weights.bin', '../ghts.bin'), 'latin1'),
    );
    const e = await garden('import', join(d, 'evil.onnx'), '--out', join(dir, 'out-evil'));
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/^garden import: onnx check failed: external data location "..\/ghts.bin" leaves the model's directory$/);
  });

  it('a file that fails a check: exit 1, one line naming the check, nothing written', async () => {
    const good = readFileSync(st);
    const cases: [string, Uint8Array, string][] = [
      ['truncated', good.subarray(0, good.length - 3), 'file-length'],
      [
        'header-past-end',
        (() => {
          const c = new Uint8Array(good);
          new DataView(c.buffer).setUint32(0, good.length, true);
          return c;
        })(),
        'header-length',
      ],
      ['bad-dtype', Buffer.from(Buffer.from(good).toString('latin1').replace('"F32"', '"F64"'), 'latin1'), 'dtype'],
    ];
    for (const [name, bytes, check] of cases) {
      const p = join(dir, `${name}.safetensors`);
      writeFileSync(p, bytes);
      const r = await garden('inspect', p);
      expect(r.code).toBe(1);
      expect(r.err.split('\n')).toHaveLength(1);
      expect(r.err).toMatch(new RegExp(`^garden inspect: ${check} check failed: `));
      expect(r.err).not.toMatch(/\bat .*\.ts:\d+/);
      const out = join(dir, `refused-${name}`);
      const imp = await garden('import', st, p, '--out', out);
      expect(imp.code).toBe(1);
      expect(imp.err).toContain(`${check} check failed`);
      expect(readdirSync(out)).toEqual([]); // the good file before it was not written either
    }
  });

  it('refuses two inputs that would be written under one name, before writing anything', async () => {
    const a = join(dir, 'same-a');
    const b = join(dir, 'same-b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(a, 'model.safetensors'), serializeSafetensors(model(2)));
    writeFileSync(join(b, 'model.safetensors'), serializeSafetensors(model(3)));
    const out = join(dir, 'out-same');
    const r = await garden('import', join(a, 'model.safetensors'), join(b, 'model.safetensors'), '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `garden import: ${join(a, 'model.safetensors')} and ${join(b, 'model.safetensors')} would both be written as "model" (.slm, .graph.onnx, .import.json); import them in separate runs or into separate --out folders`,
    );
    expect(() => readdirSync(out)).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: `ENOENT: no such file or directory, scandir '${out}'` }),
    ); // nothing, not even the folder
    // different names import side by side
    const ok = await garden('import', join(a, 'model.safetensors'), st, '--out', out);
    expect(ok.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['model.import.json', 'model.slm', 'plain.import.json', 'plain.slm']);
  });

  it('unknown flags and missing values are one line naming the flag', async () => {
    for (const [cmd, args, msg] of [
      ['inspect', [st, '--jsn'], 'garden inspect: unknown option "--jsn"; valid: --json, --no-scan'],
      ['import', [st, '--out'], 'garden import: option --out needs a value'],
      ['export', [st, '--format', 'slm', '--out', join(dir, 'x.slm'), '--card=yes'], 'garden export: option --card takes no value'],
      [
        'breed',
        ['r.json', '--outt', 'x'],
        'garden breed: unknown option "--outt"; valid: --out X, --json, --threads X, --family X, --catalog X, --root X, --calibration X (repeatable), --rehash',
      ],
      [
        'quantize',
        [st, '--blok', '4'],
        'garden quantize: unknown option "--blok"; valid: --scheme X, --block X, --seed X, --out X, --graph-out X, --op X, --family X, --catalog X, --json',
      ],
      [
        'eval',
        [st, '--suite', 'all', '--pinn', 'x'],
        'garden eval: unknown option "--pinn"; valid: --suite X, --family X, --catalog X, --pin X, --batch X, --json, --text X (repeatable), --window X, --bins X, --smoke-new X, --runtime X, --safety X, --bias X',
      ],
    ] as const) {
      const r = await garden(cmd, ...args);
      expect(r.code).toBe(1);
      expect(r.err).toBe(msg);
    }
  });

  it('writeAll loops until every byte is written', async () => {
    const r = mulberry(9);
    for (let trial = 0; trial < 20; trial++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(r() * 5000) }, () => Math.floor(r() * 256));
      const sink: number[] = [];
      // a handle that writes a random short prefix each call
      const fh = {
        write: async (buf: Uint8Array, offset: number, length: number) => {
          const n = Math.max(1, Math.floor(r() * length));
          sink.push(...buf.subarray(offset, offset + n));
          return { bytesWritten: n, buffer: buf };
        },
      };
      await writeAll(fh as never, bytes, 'sink');
      expect(Uint8Array.from(sink)).toEqual(bytes);
    }
    const stuck = { write: async (buf: Uint8Array) => ({ bytesWritten: 0, buffer: buf }) };
    await expect(writeAll(stuck as never, new Uint8Array(10), 'disk.slm')).rejects.toThrow(
      'short write to disk.slm: 0 of 10 bytes written',
    );
  });
});

describe('docs/FORMAT.md', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'FORMAT.md'), 'utf8');

  it('every flag its CLI synopsis shows is one the command accepts', async () => {
    const block = /## CLI\n\n```\n([\s\S]*?)```/.exec(doc)![1];
    const lines = block.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['inspect', 'import', 'export', 'quantize', 'breed', 'eval']);
    for (const line of lines) {
      const cmd = line.split(' ')[1];
      const valid = (await garden(cmd, 'x', '--no-such-flag')).err;
      expect(valid).toMatch(new RegExp(`^garden ${cmd}: unknown option "--no-such-flag"; valid: `));
      for (const flag of line.match(/--[a-z-]+/g) ?? []) expect(valid, `${cmd} ${flag}`).toMatch(new RegExp(`${flag}\\b`));
    }
  });

  it('every function it names is exported where it says', async () => {
    const modules = await Promise.all([
      import('../../src/core/format/source.ts'),
      import('../../src/core/format/reader.ts'),
      import('../../src/core/format/slm.ts'),
      import('../../src/core/format/safetensors.ts'),
      import('../../src/core/format/model.ts'),
      import('../../src/core/format/onnx.ts'),
      import('../../src/core/format/card.ts'),
      import('../../src/core/compat.ts'),
      import('../../src/core/hash.ts'),
      import('../../src/core/operators/candidate.ts'),
      import('../../src/core/operators/breed.ts'),
      import('../../src/core/models/quantized-graph.ts'),
      import('../../src/store/index.ts'),
      import('../../src/node/file-source.ts'),
      import('../../src/node/args.ts'),
    ]);
    const exported = new Set(
      modules.flatMap((m) =>
        Object.entries(m)
          .filter(([, v]) => typeof v === 'function')
          .map(([k]) => k),
      ),
    );
    const methods = new Set([
      'putModel',
      'loadModel',
      'matchTensor',
      'matchGraph',
      'usage',
      'persist',
      'readTensorRange',
      'tensorInfo',
      'tensorWriter',
      'external',
      'ceil',
      'read',
    ]);
    const named = [...new Set([...doc.matchAll(/`([A-Za-z]+)\(/g)].map((m) => m[1]))].filter((n) => !methods.has(n));
    expect(named.length).toBeGreaterThan(20);
    for (const n of named) expect(exported.has(n), n).toBe(true);
    // the store methods it names are methods of a store
    const store = (modules[12] as typeof import('../../src/store/index.ts')).createMemoryTensorStore();
    for (const m of [
      'putModel',
      'loadModel',
      'matchTensor',
      'matchGraph',
      'usage',
      'persist',
      'readTensorRange',
      'tensorInfo',
      'tensorWriter',
    ] as const)
      expect(typeof store[m]).toBe('function');
  });
});
