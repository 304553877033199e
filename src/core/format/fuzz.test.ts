/**
 * Property-based tests: 10,000 corrupt inputs per parser (mutations of valid files: truncations,
 * byte flips, insertions, length rewrites, header rewrites with random JSON). Every input is
 * either accepted (and then self-consistent) or refused with a FormatError — nothing else escapes.
 * Imports into a store leave the store byte-for-byte unchanged when refused. Then fewer runs of
 * structurally valid files with exactly one field wrong (each refused by that field's check), and
 * prototype-polluting keys whose acceptance would show up in Object.prototype.
 */
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { FORMAT_CHECKS, FormatError } from './errors.ts';
import { parseManifestJson } from './json.ts';
import { importFile, importHfSharded, importOnnxModel } from './model.ts';
import { parseSafetensors, serializeSafetensors } from './safetensors.ts';
import { readSlm, speciesId, speciesSignature, writeSlm, SLM_KEYS } from './slm.ts';
import { bytesSource } from './source.ts';
import { mulberry } from './testing.ts';
import { memoryBackend } from '../../store/memory-store.ts';
import { createTensorStore } from '../../store/tensor-store.ts';
import { storeImported } from '../../store/import.ts';
import { byteLength, DTYPES, fromFloat32, type DType, type Tensor } from '../tensor.ts';
import { openHfSharded, parseHfIndex, writeHfIndex } from './hf-index.ts';
import { writeFuzzRows, type FuzzRow } from '../../../cli/reliability.ts';

const RUNS = 10_000;
const enc = new TextEncoder();
const dec = new TextDecoder();
const { onnx } = onnxProto;

/*
 * What each 10,000-input stage saw, for the fuzz section of docs/RELIABILITY.md (cli/reliability.ts;
 * cli/fuzz.test.ts writes the other parsers' rows). Counted as the inputs run, so a failing stage
 * writes what it found.
 */
const fuzzRows: FuzzRow[] = [];
const MUTATIONS =
  'truncations, byte flips, splices, length-prefix rewrites (64-bit too), random-JSON headers, header entries damaged, duplicate and __proto__ keys';
afterAll(() => void (fuzzRows.length && writeFuzzRows(fuzzRows)));
let crashes = 0;
const writes = { checked: 0, partial: 0 };
async function stage(parser: string, mutations: string, run: (seen: { accepted: number; refused: number }) => unknown): Promise<void> {
  crashes = 0;
  writes.checked = writes.partial = 0;
  const seen = { accepted: 0, refused: 0 };
  try {
    await run(seen);
  } finally {
    const test = 'src/core/format/fuzz.test.ts';
    fuzzRows.push({
      parser,
      inputs: seen.accepted + seen.refused + crashes,
      ...seen,
      crashes,
      writesChecked: writes.checked,
      partialWrites: writes.partial,
      mutations,
      test,
    });
  }
}
/** A refused import must leave the store as it was. */
function expectUnchanged(backend: { snapshot(): string }, before: string): void {
  writes.checked++;
  if (backend.snapshot() !== before) writes.partial++;
  expect(backend.snapshot()).toBe(before);
}

/** Run f; it may succeed or throw a FormatError naming a known check, nothing else. */
function refusedOrAccepted<T>(f: () => T): { ok: true; value: T } | { ok: false; error: FormatError } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (!(e instanceof FormatError)) {
      crashes++;
      throw new Error(`non-FormatError escaped: ${(e as Error)?.stack ?? e}`);
    }
    expect(FORMAT_CHECKS).toContain(e.check);
    expect(e.message).not.toMatch(/[\n\r]/);
    return { ok: false, error: e };
  }
}
async function refusedOrAcceptedAsync<T>(f: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: FormatError }> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    if (!(e instanceof FormatError)) {
      crashes++;
      throw new Error(`non-FormatError escaped: ${(e as Error)?.stack ?? e}`);
    }
    expect(FORMAT_CHECKS).toContain(e.check);
    expect(e.message).not.toMatch(/[\n\r]/);
    return { ok: false, error: e };
  }
}

function tensors(seed: number): Tensor[] {
  const r = mulberry(seed);
  const out: Tensor[] = [
    fromFloat32(
      'w',
      [3, 2],
      Float32Array.from({ length: 6 }, () => r()),
    ),
  ];
  out.push({ name: 'b', dtype: 'F16', shape: [3], data: Uint8Array.from({ length: 6 }, () => Math.floor(r() * 256)) });
  out.push({ name: 'q', dtype: 'I4', shape: [5], data: Uint8Array.from({ length: 3 }, () => Math.floor(r() * 256)) });
  out.push({ name: 'e', dtype: 'U8', shape: [0], data: new Uint8Array(0) });
  return out;
}

/** Header JSON with structured damage: fields swapped for random JSON values or plausible wrong ones. */
const headerValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.record({
    dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I8', 'U8', 'I4', 'F64', 'i4', ''), fc.jsonValue({ maxDepth: 1 })),
    shape: fc.oneof(
      fc.array(fc.oneof(fc.integer({ min: -2, max: 12 }), fc.constantFrom(2 ** 40, 2 ** 41, 2 ** 53, 1.5, -0)), { maxLength: 4 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -4, max: 64 }), fc.integer({ min: -4, max: 64 })), fc.jsonValue({ maxDepth: 1 })),
  }),
);
const keyArb = fc.oneof(
  fc.constantFrom('w', 'b', 'q', 'e', '__metadata__', '__proto__', 'constructor', 'prototype', 'toString', ''),
  fc.string({ maxLength: 6 }),
);

/** Mutations of a valid file's bytes. */
function mutation(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = valid.length;
  const headerLen = new DataView(valid.buffer, valid.byteOffset).getUint32(0, true);
  const header = JSON.parse(dec.decode(valid.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  const data = valid.subarray(8 + headerLen);
  const withHeader = (text: string, body: Uint8Array = data, lenDelta = 0) => {
    const j = enc.encode(text);
    const out = new Uint8Array(8 + j.length + body.length);
    new DataView(out.buffer).setUint32(0, Math.max(0, j.length + lenDelta), true);
    out.set(j, 8);
    out.set(body, 8 + j.length);
    return out;
  };
  return fc.oneof(
    // truncation
    fc.integer({ min: 0, max: n - 1 }).map((k) => valid.slice(0, k)),
    // byte flips
    fc
      .array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })
      .map((flips) => {
        const c = valid.slice();
        for (const [i, v] of flips) c[i] = v;
        return c;
      }),
    // insertion / deletion in the middle
    fc.tuple(fc.integer({ min: 0, max: n }), fc.uint8Array({ maxLength: 9 }), fc.integer({ min: 0, max: 9 })).map(([at, ins, del]) => {
      const c = new Uint8Array(n - Math.min(del, n - at) + ins.length);
      c.set(valid.subarray(0, at));
      c.set(ins, at);
      c.set(valid.subarray(Math.min(n, at + del)), at + ins.length);
      return c;
    }),
    // length prefix rewrites (including 64-bit values)
    fc.tuple(fc.nat(), fc.nat()).map(([lo, hi]) => {
      const c = valid.slice();
      const dv = new DataView(c.buffer);
      dv.setUint32(0, lo % (headerLen * 2 + 16), true);
      dv.setUint32(4, hi % 3 === 0 ? hi : 0, true);
      return c;
    }),
    // header replaced by random JSON text
    fc.tuple(fc.json({ maxDepth: 3 }), fc.integer({ min: -3, max: 3 })).map(([text, d]) => withHeader(text, data, d)),
    // header entries damaged structurally
    fc.array(fc.tuple(keyArb, headerValue), { minLength: 1, maxLength: 3 }).map((edits) => {
      const h: Record<string, unknown> = JSON.parse(JSON.stringify(header));
      let text = JSON.stringify(h);
      for (const [k, v] of edits) {
        if (k === '__proto__' || k === 'constructor' || k === 'prototype')
          text = text.slice(0, -1) + `,${JSON.stringify(k)}:${JSON.stringify(v)}}`;
        else {
          h[k] = v;
          text = JSON.stringify(h);
        }
      }
      return withHeader(text);
    }),
    // duplicate keys and garbage (invalid UTF-8, NUL) in the header
    fc.constantFrom(
      withHeader(JSON.stringify(header).slice(0, -1) + ',"w":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
      withHeader('{"w":"\u0000"}'),
      (() => {
        const c = valid.slice();
        c[9] = 0xff;
        return c;
      })(),
    ),
  );
}

/** On acceptance the parse must be self-consistent: every tensor inside the file at its declared size. */
function checkAccepted(file: Uint8Array, tensors: Tensor[]): void {
  for (const t of tensors) {
    expect(t.data.length).toBe(byteLength(t.dtype, t.shape));
    expect(t.data.byteOffset - file.byteOffset + t.data.length).toBeLessThanOrEqual(file.length);
  }
}

describe('property: safetensors header and file', () => {
  it(`${RUNS} mutated files are refused with a FormatError or parsed consistently`, async () => {
    const valid = serializeSafetensors(tensors(1), { note: 'fuzz' });
    await stage('safetensors', MUTATIONS, (seen) => {
      fc.assert(
        fc.property(mutation(valid), (file) => {
          const r = refusedOrAccepted(() => parseSafetensors(file));
          if (r.ok) {
            seen.accepted++;
            checkAccepted(file, r.value.tensors);
          } else seen.refused++;
        }),
        { numRuns: RUNS, seed: 11 },
      );
      expect(seen.refused).toBeGreaterThan(RUNS * 0.8);
    });
  });
});

describe('property: .slm metadata (and import into a store)', () => {
  it(`${RUNS} mutated .slm files are refused or read; a refused import leaves the store unchanged`, async () => {
    const ts = tensors(2);
    const species = speciesId(speciesSignature(ts, '', ['cat', 'dog']));
    const valid = writeSlm(ts, { species, graph: '', vocabulary: ['cat', 'dog'], manifest: 'b'.repeat(64) });
    const metaDamage = fc
      .array(
        fc.tuple(
          fc.constantFrom(...Object.values(SLM_KEYS), 'slm.other', 'note'),
          fc.oneof(
            fc.constantFrom(
              '0',
              '1',
              '2',
              '01',
              '-1',
              '1e0',
              '',
              species,
              species.toUpperCase(),
              '[]',
              '["cat","dog"]',
              '["dog","cat"]',
              '[1]',
              '{}',
            ),
            fc.string({ maxLength: 8 }),
            fc.jsonValue({ maxDepth: 1 }),
          ),
        ),
        { minLength: 1, maxLength: 3 },
      )
      .map((edits) => {
        const { tensors: t, metadata } = parseSafetensors(valid);
        const m: Record<string, unknown> = { ...metadata };
        for (const [k, v] of edits) m[k] = v;
        const h = JSON.parse(dec.decode(valid.subarray(8, 8 + new DataView(valid.buffer).getUint32(0, true))));
        h.__metadata__ = m;
        const j = enc.encode(JSON.stringify(h));
        const body = serializeSafetensors(t).subarray(8 + new DataView(serializeSafetensors(t).buffer).getUint32(0, true));
        const out = new Uint8Array(8 + j.length + body.length);
        new DataView(out.buffer).setUint32(0, j.length, true);
        out.set(j, 8);
        out.set(body, 8 + j.length);
        return out;
      });
    const fixture = storeFixture();
    await stage('.slm', `${MUTATIONS}; garden metadata keys set to wrong values`, async (seen) => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(mutation(valid), metaDamage), async (file) => {
          const { backend, store, snap: before } = await fixture.get();
          const r = refusedOrAccepted(() => readSlm(file));
          if (r.ok) {
            seen.accepted++;
            checkAccepted(file, r.value.tensors);
            expect(r.value.species).toMatch(/^[0-9a-f]{64}$/);
          } else seen.refused++;
          const imp = await refusedOrAcceptedAsync(async () => storeImported(store, await importFile(bytesSource(file))));
          if (!imp.ok) expectUnchanged(backend, before);
          else fixture.changed();
        }),
        { numRuns: RUNS, seed: 12 },
      );
      expect(seen.refused).toBeGreaterThan(RUNS * 0.5);
      expect(seen.accepted).toBeGreaterThan(0);
    });
  });
});

const HF_SHARDS = new Map([
  ['a.safetensors', serializeSafetensors(tensors(5).filter((t) => t.name === 'w' || t.name === 'e'))],
  ['b.safetensors', serializeSafetensors(tensors(5).filter((t) => t.name === 'b' || t.name === 'q'))],
]);
function importHfShardedCheck(text: string) {
  return importHfSharded(text, async (f) => {
    const b = HF_SHARDS.get(f);
    if (!b) throw new FormatError('index', `no shard file ${JSON.stringify(f)}`);
    return bytesSource(b);
  });
}

/**
 * A store that already holds one model, so "unchanged" is not trivially "empty". It is reused
 * while imports are refused (they must not change it) and replaced after an accepted import.
 */
function storeFixture() {
  let cur: { backend: ReturnType<typeof memoryBackend>; store: ReturnType<typeof createTensorStore>; snap: string } | null = null;
  return {
    async get() {
      if (!cur) {
        const backend = memoryBackend();
        const store = createTensorStore(backend);
        await store.putModel({ tensors: tensors(9), species: 'c'.repeat(64) });
        cur = { backend, store, snap: backend.snapshot() };
      }
      return cur;
    },
    changed() {
      cur = null;
    },
  };
}

describe('property: Hugging Face index JSON', () => {
  it(`${RUNS} mutated index files are refused with a FormatError or agree with their shards`, async () => {
    const validIndex = JSON.stringify({
      metadata: { total_size: 30 },
      weight_map: { w: 'a.safetensors', b: 'b.safetensors', q: 'b.safetensors', e: 'a.safetensors' },
    });
    const arb = fc.oneof(
      fc.integer({ min: 0, max: validIndex.length - 1 }).map((k) => validIndex.slice(0, k)),
      fc
        .tuple(fc.integer({ min: 0, max: validIndex.length - 1 }), fc.string({ maxLength: 3 }))
        .map(([i, s]) => validIndex.slice(0, i) + s + validIndex.slice(i + 1)),
      fc.json({ maxDepth: 3 }),
      fc
        .tuple(
          fc.dictionary(
            keyArb,
            fc.oneof(
              fc.constantFrom('a.safetensors', 'b.safetensors', '../a.safetensors', '/etc/passwd', 'c.safetensors', ''),
              fc.jsonValue({ maxDepth: 1 }),
            ),
            { maxKeys: 5 },
          ),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map(([wm, md]) => JSON.stringify({ metadata: md, weight_map: wm })),
      fc.constantFrom(
        '{"weight_map":{"w":"a.safetensors"},"weight_map":{}}',
        '{"weight_map":{"__proto__":"a.safetensors"}}',
        '{"weight_map":{"w":"a.safetensors"},"extra":1}',
      ),
    );
    await stage(
      'sharded index',
      'truncations, character replacements, random JSON, weight maps of random keys and files (../, absolute, missing), duplicate and __proto__ keys',
      async (seen) => {
        await fc.assert(
          fc.asyncProperty(arb, async (text) => {
            const r = refusedOrAccepted(() => parseHfIndex(text));
            const s = await refusedOrAcceptedAsync(() => importHfShardedCheck(text));
            if (s.ok) {
              seen.accepted++;
              expect(r.ok).toBe(true);
            } else seen.refused++;
          }),
          { numRuns: RUNS, seed: 13 },
        );
        expect(seen.accepted).toBeGreaterThan(0);
      },
    );
  });
});

/** A small ONNX model: a MatMul+Add in the main graph and an If whose branches hold their own weights. */
function smallOnnx(): Uint8Array {
  const f32 = (name: string, dims: number[], seed: number) => {
    const r = mulberry(seed);
    const n = dims.reduce((a, b) => a * b, 1);
    return { name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from({ length: n }, () => r()).buffer) };
  };
  const branch = (name: string, seed: number) => ({
    name,
    node: [{ opType: 'Add', input: ['y', `${name}.bias`], output: [`${name}.out`] }],
    initializer: [f32(`${name}.bias`, [2], seed)],
    output: [{ name: `${name}.out`, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 2 }] } } } }],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'small',
      node: [
        { opType: 'MatMul', input: ['x', 'W'], output: ['xw'] },
        { opType: 'Add', input: ['xw', 'B'], output: ['y'] },
        {
          opType: 'If',
          input: ['flag'],
          output: ['z'],
          attribute: [
            { name: 'then_branch', type: 5, g: branch('then', 3) },
            { name: 'else_branch', type: 5, g: branch('else', 4) },
          ],
        },
      ],
      initializer: [f32('W', [3, 2], 1), f32('B', [2], 2), { name: 'shape', dims: [2], dataType: 7, rawData: new Uint8Array(16) }],
      input: [
        { name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }] } } } },
        { name: 'flag', type: { tensorType: { elemType: 9, shape: { dim: [] } } } },
      ],
      output: [{ name: 'z', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 2 }] } } } }],
    },
  });
  return new Uint8Array(onnx.ModelProto.encode(model).finish()); // a copy: protobufjs may return a pooled Buffer
}

describe('property: ONNX import (and import into a store)', () => {
  it(`${RUNS} mutated ONNX files are refused with a FormatError or imported; refusals write nothing`, async () => {
    const valid = smallOnnx();
    const good = await importOnnxModel(valid);
    expect(good.tensors.map((t) => t.name).sort()).toEqual(['B', 'W', 'else.bias', 'then.bias']);
    const n = valid.length;
    const arb = fc.oneof(
      fc.integer({ min: 0, max: n - 1 }).map((k) => valid.slice(0, k)),
      fc
        .array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
        .map((flips) => {
          const c = valid.slice();
          for (const [i, v] of flips) c[i] = v;
          return c;
        }),
      fc.tuple(fc.integer({ min: 0, max: n }), fc.uint8Array({ maxLength: 6 })).map(([at, ins]) => {
        const c = new Uint8Array(n + ins.length);
        c.set(valid.subarray(0, at));
        c.set(ins, at);
        c.set(valid.subarray(at), at + ins.length);
        return c;
      }),
      fc.uint8Array({ maxLength: 64 }),
    );
    const fixture = storeFixture();
    await stage('ONNX', 'truncations, byte flips, insertions, random bytes of a model with If subgraphs', async (seen) => {
      await fc.assert(
        fc.asyncProperty(arb, async (bytes) => {
          const { backend, store, snap: before } = await fixture.get();
          const r = await refusedOrAcceptedAsync(async () => storeImported(store, await importOnnxModel(bytes)));
          if (r.ok) {
            seen.accepted++;
            fixture.changed();
          } else {
            seen.refused++;

            expectUnchanged(backend, before);
          }
        }),
        { numRuns: RUNS, seed: 14 },
      );
      expect(seen.refused).toBeGreaterThan(RUNS * 0.3);
      expect(seen.accepted).toBeGreaterThan(0);
    });
  });
});

describe('property: manifest-like JSON', () => {
  it(`${RUNS} random and mutated manifests are refused with a FormatError or carry only known, safe keys`, () => {
    const spec = { required: ['kind', 'version'], optional: ['parents', 'note'] };
    const valid = JSON.stringify({ kind: 'lineage-template', version: 1, parents: ['a', 'b'], note: { x: [1, 2] } });
    const arb = fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc.integer({ min: 0, max: valid.length - 1 }).map((k) => valid.slice(0, k)),
      fc
        .tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.string({ maxLength: 3 }))
        .map(([i, s]) => valid.slice(0, i) + s + valid.slice(i + 1)),
      fc
        .tuple(keyArb, fc.jsonValue({ maxDepth: 2 }), fc.boolean())
        .map(([k, v, nested]) =>
          nested
            ? valid.replace('"x":', `${JSON.stringify(k)}:${JSON.stringify(v)},"x":`)
            : valid.slice(0, -1) + `,${JSON.stringify(k)}:${JSON.stringify(v)}}`,
        ),
      fc.uint8Array({ maxLength: 32 }),
    );
    let accepted = 0;
    const forbidden = /"(__proto__|constructor|prototype)"\s*:/;
    fc.assert(
      fc.property(arb, (input) => {
        const r = refusedOrAccepted(() => parseManifestJson(input, spec));
        if (r.ok) {
          accepted++;
          for (const k of Object.keys(r.value)) expect([...spec.required, ...spec.optional]).toContain(k);
          expect(typeof input === 'string' ? forbidden.test(input) : false).toBe(false);
        }
      }),
      { numRuns: RUNS, seed: 15 },
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it(`500 prototype-polluting keys, anywhere and however escaped, are refused: merging what is accepted pollutes nothing`, () => {
    const spec = { required: ['kind', 'version'], optional: ['parents', 'note'] };
    const valid = JSON.stringify({ kind: 'lineage-template', version: 1, parents: ['a', 'b'], note: { x: [1, 2], deep: { y: {} } } });
    const opens = [...valid].flatMap((c, i) => (c === '{' ? [i] : []));
    const keys = ['"__proto__"', '"__proto\\u005f_"', '"\\u005f_proto__"', '"constructor"', '"prototype"'];
    let refusedByKeys = 0;
    fc.assert(
      fc.property(fc.constantFrom(...opens), fc.constantFrom(...keys), fc.nat(), (at, key, id) => {
        const body = `${key}:{"polluted":${id}}`;
        const text = valid.slice(0, at + 1) + body + (valid[at + 1] === '}' ? '' : ',') + valid.slice(at + 1);
        JSON.parse(text); // the input itself is valid JSON
        const r = refusedOrAccepted(() => parseManifestJson(text, spec));
        try {
          if (r.ok) naiveMerge({}, r.value);
          const leaked = Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted');
          expect(leaked, `Object.prototype polluted by ${text}`).toBe(false);
        } finally {
          delete (Object.prototype as Record<string, unknown>).polluted;
        }
        expect(r.ok, `accepted ${text}`).toBe(false);
        if (!r.ok && /forbidden key/.test(r.error.message)) refusedByKeys++;
      }),
      { numRuns: 500, seed: 24 },
    );
    expect(refusedByKeys).toBe(500);
  });
});

/**
 * A naive deep merge, as downstream code combines parsed JSON: it follows "__proto__" like any
 * other own key, so a parsed `{"__proto__": {"polluted": 1}}` would reach Object.prototype.
 */
function naiveMerge(target: Record<string, unknown>, src: unknown): void {
  if (src === null || typeof src !== 'object') return;
  for (const k of Object.keys(src)) {
    const v = (src as Record<string, unknown>)[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      if (target[k] === null || typeof target[k] !== 'object') target[k] = {};
      naiveMerge(target[k] as Record<string, unknown>, v);
    } else target[k] = v;
  }
}

/*
 * Structurally valid files with exactly ONE field wrong. The mutations above rarely keep the
 * offsets valid while changing a shape or dtype, so they say little about the checks between
 * the fields; these generators write a valid file from random tensor specs, then change one
 * field of one entry (or one garden key, or one weight_map entry) and rewrite the header
 * consistently around it. Each must be refused with the one check that field is for.
 */
const ONE_WRONG_RUNS = 2_000;
const DTYPE_IDS = Object.keys(DTYPES) as DType[];
const NAMES = ['a', 'b.weight', 'c.bias', 'd', 'e.q'];

const specsArb = fc.uniqueArray(
  fc.record({
    name: fc.constantFrom(...NAMES),
    dtype: fc.constantFrom(...DTYPE_IDS),
    shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
  }),
  { selector: (t) => t.name, minLength: 1, maxLength: 4 },
);
const withData = (specs: { name: string; dtype: DType; shape: number[] }[]): Tensor[] =>
  specs.map((t, k) => ({ ...t, data: Uint8Array.from({ length: byteLength(t.dtype, t.shape) }, (_, i) => (i * 31 + k * 7) & 0xff) }));

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;

/** Split a valid safetensors file into its header object and data section. */
function splitFile(file: Uint8Array): { header: Header; data: Uint8Array } {
  const n = new DataView(file.buffer, file.byteOffset).getUint32(0, true);
  return { header: JSON.parse(dec.decode(file.subarray(8, 8 + n))) as Header, data: file.subarray(8 + n) };
}
function joinFile(header: Header, data: Uint8Array): Uint8Array {
  const j = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + j.length + data.length);
  new DataView(out.buffer).setUint32(0, j.length, true);
  out.set(j, 8);
  out.set(data, 8 + j.length);
  return out;
}

/** One wrong field of one entry; `expect` lists the checks that may refuse it (the first is the usual one). */
interface EntryDamage {
  kind: 'shape' | 'dtype' | 'dtype-name' | 'shift' | 'end';
  target: number;
  k: number;
  shape: number[];
  dtype: DType;
  bad: string;
}
const entryDamageArb: fc.Arbitrary<EntryDamage> = fc.record({
  kind: fc.constantFrom('shape', 'dtype', 'dtype-name', 'shift', 'end'),
  target: fc.nat(),
  k: fc.integer({ min: -9, max: 9 }).filter((k) => k !== 0),
  shape: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }),
  dtype: fc.constantFrom(...DTYPE_IDS),
  bad: fc.constantFrom('F64', 'f32', 'int8', 'I4 ', 'Q8_0', 'U16'),
});

/** Apply the damage to the header in place; null when it would not make the field wrong. */
function damageEntry(header: Header, d: EntryDamage): { name: string; checks: string[] } | null {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = names[d.target % names.length];
  const e = header[name] as { dtype: DType; shape: number[]; data_offsets: [number, number] };
  const [begin, end] = e.data_offsets;
  switch (d.kind) {
    case 'shape':
      if (byteLength(e.dtype, d.shape) === end - begin) return null;
      e.shape = d.shape;
      return { name, checks: ['size'] };
    case 'dtype':
      if (byteLength(d.dtype, e.shape) === end - begin) return null;
      e.dtype = d.dtype;
      return { name, checks: ['size'] };
    case 'dtype-name':
      (e as { dtype: string }).dtype = d.bad;
      return { name, checks: ['dtype'] };
    case 'shift':
      // an empty tensor may sit at any offset; a non-empty one moved always overlaps or leaves a gap
      if (begin + d.k < 0 || end === begin) return null;
      e.data_offsets = [begin + d.k, end + d.k];
      return { name, checks: ['overlap', 'coverage', 'offsets', 'file-length'] };
    case 'end':
      e.data_offsets = [begin, end + d.k];
      return { name, checks: end + d.k < begin ? ['offsets'] : ['size'] };
  }
}

function expectRefusedAs(r: { ok: boolean; error?: FormatError }, checks: readonly string[], name?: string): void {
  expect(r.ok, `accepted, expected a refusal by ${checks.join(' or ')}`).toBe(false);
  expect(checks).toContain(r.error!.check);
  if (name !== undefined && r.error!.check !== 'coverage') expect(r.error!.message).toContain(JSON.stringify(name));
}

describe('property: one wrong field in a structurally valid file', () => {
  it(`${ONE_WRONG_RUNS} safetensors files with one wrong shape, dtype or offset are refused by that field's check`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(specsArb, entryDamageArb, fc.boolean(), (specs, d, meta) => {
        const { header, data } = splitFile(serializeSafetensors(withData(specs), meta ? { note: 'x' } : {}));
        const wrong = damageEntry(header, d);
        fc.pre(wrong !== null);
        const file = joinFile(header, data);
        expectRefusedAs(
          refusedOrAccepted(() => parseSafetensors(file)),
          wrong!.checks,
          d.kind === 'shift' ? undefined : wrong!.name,
        );
        seen.set(d.kind, (seen.get(d.kind) ?? 0) + 1);
      }),
      { numRuns: ONE_WRONG_RUNS, seed: 21 },
    );
    expect([...seen.keys()].sort()).toEqual(['dtype', 'dtype-name', 'end', 'shape', 'shift']);
  });

  it(`${ONE_WRONG_RUNS / 4} .slm files with one wrong shape (species recomputed to match) or one wrong garden key are refused, in memory and on import`, async () => {
    const seen = new Map<string, number>();
    const fixture = storeFixture();
    await fc.assert(
      fc.asyncProperty(
        specsArb,
        entryDamageArb,
        fc.constantFrom('shape', 'species', 'vocabulary', 'graph', 'format'),
        async (specs, d, kind) => {
          const vocabulary = ['cat', 'dog'];
          const speciesOf = (ts: readonly { name: string; dtype: DType; shape: number[] }[], voc = vocabulary, graph = '') =>
            speciesId(speciesSignature(ts, graph, voc));
          const { header, data } = splitFile(writeSlm(withData(specs), { species: speciesOf(specs), graph: '', vocabulary }));
          const meta = header.__metadata__ as Record<string, string>;
          let checks: string[];
          let name: string | undefined;
          if (kind === 'shape') {
            const wrong = damageEntry(header, { ...d, kind: 'shape' });
            fc.pre(wrong !== null);
            name = wrong!.name;
            checks = wrong!.checks;
            // The species agrees with the damaged header: only the size check stands between the shape and the bytes.
            const damaged = Object.entries(header)
              .filter(([k]) => k !== '__metadata__')
              .map(([n, e]) => ({ name: n, ...(e as { dtype: DType; shape: number[] }) }));
            meta[SLM_KEYS.species] = speciesOf(damaged);
          } else if (kind === 'species') {
            const s = meta[SLM_KEYS.species];
            meta[SLM_KEYS.species] = (s[0] === '0' ? '1' : '0') + s.slice(1);
            checks = ['species'];
          } else if (kind === 'vocabulary') {
            meta[SLM_KEYS.vocabulary] = JSON.stringify(['cat', 'cow']);
            checks = ['species'];
          } else if (kind === 'graph') {
            meta[SLM_KEYS.graph] = 'a'.repeat(64);
            checks = ['species'];
          } else {
            meta[SLM_KEYS.format] = '2';
            checks = ['metadata'];
          }
          const file = joinFile(header, data);
          expectRefusedAs(
            refusedOrAccepted(() => readSlm(file)),
            checks,
            name,
          );
          const { backend, store, snap: before } = await fixture.get();
          const imp = await refusedOrAcceptedAsync(async () => storeImported(store, await importFile(bytesSource(file))));
          if (kind === 'shape' || kind === 'format') expectRefusedAs(imp, checks, name);
          if (!imp.ok) expect(backend.snapshot()).toBe(before);
          else fixture.changed();
          seen.set(kind, (seen.get(kind) ?? 0) + 1);
        },
      ),
      { numRuns: ONE_WRONG_RUNS / 4, seed: 22 },
    );
    expect([...seen.keys()].sort()).toEqual(['format', 'graph', 'shape', 'species', 'vocabulary']);
  });

  it(`${ONE_WRONG_RUNS / 4} sharded models with one wrong weight_map entry or one wrong shard shape are refused`, async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        specsArb.filter((s) => s.length >= 2),
        entryDamageArb,
        fc.constantFrom('moved', 'renamed', 'shape'),
        async (specs, d, kind) => {
          const half = Math.ceil(specs.length / 2);
          const shards = [specs.slice(0, half), specs.slice(half)].map((ts, i) => ({
            file: `m-0000${i + 1}.safetensors`,
            tensors: ts,
            bytes: serializeSafetensors(withData(ts)),
          }));
          const index = JSON.parse(writeHfIndex(shards.map((s) => ({ file: s.file, tensors: s.tensors, dataSize: s.bytes.length })))) as {
            weight_map: Record<string, string>;
          };
          let checks: string[];
          let name: string | undefined;
          const victim = specs[d.target % specs.length].name;
          if (kind === 'moved') {
            index.weight_map[victim] = index.weight_map[victim] === shards[0].file ? shards[1].file : shards[0].file;
            checks = ['index'];
          } else if (kind === 'renamed') {
            const file = index.weight_map[victim];
            delete index.weight_map[victim];
            index.weight_map[`${victim}.renamed`] = file;
            checks = ['index'];
          } else {
            const s = shards[d.target % 2];
            const { header, data } = splitFile(s.bytes);
            const wrong = damageEntry(header, { ...d, kind: 'shape' });
            fc.pre(wrong !== null);
            s.bytes = joinFile(header, data);
            name = wrong!.name;
            checks = wrong!.checks;
          }
          const files = new Map(shards.map((s) => [s.file, s.bytes]));
          const open = async (f: string) => bytesSource(files.get(f) ?? new Uint8Array(0));
          expectRefusedAs(await refusedOrAcceptedAsync(() => openHfSharded(JSON.stringify(index), open)), checks, name);
          seen.set(kind, (seen.get(kind) ?? 0) + 1);
        },
      ),
      { numRuns: ONE_WRONG_RUNS / 4, seed: 23 },
    );
    expect([...seen.keys()].sort()).toEqual(['moved', 'renamed', 'shape']);
  });
});
