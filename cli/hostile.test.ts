/**
 * Hostile inputs to the `garden` commands, as an attacker would send them (issue 15, "Why"): one
 * regression test per attack. Each case records what was tried and what happened; the run writes
 * the table to docs/RELIABILITY.md (see cli/reliability.ts), so the document is the test's output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { oneHotBlendRound, writeTinyDigits } from './lab-fixture.ts';
import { runGarden } from './test-run.ts';
import { DOC, record, snapshotTree, writeReliability } from './reliability.ts';
import { cleanLeftovers, confinedPath, readRegularSync, writeFileAtomicSync } from '../src/node/confine.ts';
import { SLM_KEYS, readSlm } from '../src/core/format/slm.ts';
import { serializeSafetensors } from '../src/core/format/safetensors.ts';
import { sha256Hex } from '../src/core/hash.ts';
import { fromFloat32, type Tensor } from '../src/core/tensor.ts';
import { Ledger, MemoryLedgerStore, serializeLedger, verifyAuthority, type LedgerFile } from '../src/core/lab/ledger.ts';
import { createSigner, entryMessage, generateKeyring, keyId, zoneOf } from '../src/core/lab/signing.ts';
import { PolicyZone, policyHash } from '../src/core/lab/policy.ts';
import { manifestHash } from '../src/core/manifest/index.ts';
import type { Policy } from '../src/core/manifest/kinds.ts';
import { anchorPath, keyringPath } from '../src/node/ledger-files.ts';

const { onnx } = onnxProto;
let dir = '';
let pins: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-hostile-'));
  mkdirSync(join(dir, 'garden'), { recursive: true });
  pins = writeTinyDigits(join(dir, 'garden'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function labRound(over: Record<string, unknown> = {}, name = 'round.json', margin = 0): string {
  const r = { ...oneHotBlendRound(pins, { margin }), ...over };
  const path = join(dir, 'garden', name);
  writeFileSync(path, JSON.stringify(r));
  return path;
}

/** A tiny ONNX model whose two initializers are external data in `location`. */
function onnxWithExternal(location: string): { model: Uint8Array; bin: Uint8Array } {
  const w = new Uint8Array(Float32Array.from({ length: 12 }, (_, i) => i / 12).buffer);
  const ext = (off: number, len: number) => ({
    dataLocation: 1,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(off) },
      { key: 'length', value: String(len) },
    ],
  });
  const graph = {
    name: 'g',
    node: [{ opType: 'MatMul', input: ['x', 'W'], output: ['y'] }],
    initializer: [{ name: 'W', dims: [3, 4], dataType: 1, ...ext(0, w.length) }],
    input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }] } } } }],
    output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } } }],
  };
  return {
    model: new Uint8Array(
      onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph })).finish(),
    ),
    bin: w,
  };
}

/** Run a command that must be refused: exit 1, one line, no stack trace, nothing written in `watch`. */
async function refused(area: string, input: string, args: string[], expectErr: RegExp, watch: string[] = []) {
  const before = watch.map((w) => snapshotTree(w));
  const t0 = performance.now();
  const r = await runGarden(...args);
  const ms = performance.now() - t0;
  const after = watch.map((w) => snapshotTree(w));
  const lost = before.reduce((s, b, i) => s + b.diffBytes(after[i]), 0);
  record({
    area,
    input,
    outcome: r.code === 1 ? `refused: ${r.err.replace(/^garden \w+: /, '').replaceAll(dir, '…')}` : `NOT refused (exit ${r.code})`,
    bytesLost: lost,
    ms,
  });
  expect(r.code).toBe(1);
  expect(r.err.split('\n')).toHaveLength(1);
  expect(r.err).toMatch(expectErr);
  expect(r.err).not.toMatch(/\bat .*\.[jt]s:\d+|Maximum call stack/);
  expect(lost).toBe(0);
  return r;
}

describe('confinement: paths named inside a round, catalog or model folder', () => {
  it('a round whose catalog is ../../etc/passwd: not read, not shown', async () => {
    const deep = join(dir, 'garden', 'a', 'b');
    mkdirSync(deep, { recursive: true });
    const path = join(deep, 'round.json');
    writeFileSync(path, readFileSync(labRound()).toString().replace('"catalog.json"', '"../../../../../../../../etc/passwd"'));
    const r = await refused(
      'round',
      'catalog: ../../…/etc/passwd',
      ['lab', path, '--root', join(dir, 'garden')],
      /catalog: path "(\.\.\/)+etc\/passwd" leaves /,
      [join(dir, 'garden')],
    );
    expect(r.err).not.toMatch(/root:|nologin/);
  });

  it('a round whose catalog is an absolute path, or a symlink out of the root', async () => {
    await refused(
      'round',
      'catalog: /etc/passwd (absolute)',
      ['lab', labRound({ catalog: '/etc/passwd' }, 'abs.json')],
      /catalog: absolute path "\/etc\/passwd" is outside /,
    );
    symlinkSync('/etc/passwd', join(dir, 'garden', 'link.json'));
    await refused(
      'round',
      'catalog: a symlink to /etc/passwd',
      ['lab', labRound({ catalog: 'link.json' }, 'link-round.json')],
      /catalog: path "link\.json" resolves through a symlink to a file outside/,
    );
  });

  it('a catalog or model at /dev/zero, or a FIFO, is refused before reading (no growth, no hang)', async () => {
    symlinkSync('/dev/zero', join(dir, 'zero.json'));
    const g = join(dir, 'garden');
    // A round outside the working directory: its root is its own folder, and the symlink is inside it.
    writeFileSync(join(dir, 'zero-round.json'), readFileSync(labRound()).toString().replace('"catalog.json"', '"zero.json"'));
    await refused(
      'round',
      'catalog: a symlink to /dev/zero',
      ['lab', join(dir, 'zero-round.json')],
      /catalog: path "zero\.json" resolves through a symlink to a file outside/,
    );
    await refused(
      'round',
      'catalog: /dev/zero with --root /',
      ['lab', join(dir, 'zero-round.json'), '--root', '/'],
      /catalog \/dev\/zero is a character device; only regular files are read/,
    );
    execFileSync('mkfifo', [join(g, 'fifo.json')]);
    const t0 = performance.now();
    await refused(
      'round',
      'catalog: a FIFO',
      ['lab', labRound({ catalog: 'fifo.json' }, 'fifo-round.json')],
      /catalog .*fifo\.json is a FIFO; only regular files are read/,
    );
    expect(performance.now() - t0).toBeLessThan(5000);
    // A model file of the catalog replaced by a FIFO.
    const cat = JSON.parse(readFileSync(join(g, 'catalog.json'), 'utf8'));
    const m = cat.families[0].models[1];
    mkdirSync(join(g, 'fifo-cat'), { recursive: true });
    execFileSync('mkfifo', [join(g, 'fifo-cat', 'model.slm')]);
    cat.families[0].models[1] = { ...m, file: 'model.slm' };
    for (const f of [
      ...cat.families[0].models.filter((x: { file: string }) => x.file !== 'model.slm'),
      ...cat.families[0].suites,
      { file: cat.families[0].graph },
    ]) {
      mkdirSync(dirname(join(g, 'fifo-cat', f.file)), { recursive: true });
      writeFileSync(join(g, 'fifo-cat', f.file), readFileSync(join(g, f.file)));
    }
    writeFileSync(join(g, 'fifo-cat', 'catalog.json'), JSON.stringify(cat));
    await refused(
      'catalog',
      'a model file that is a FIFO',
      ['lab', labRound({ catalog: 'fifo-cat/catalog.json' }, 'fifo-model-round.json')],
      /model digits-rotated .*model\.slm is a FIFO; only regular files are read/,
    );
    // A catalog entry that walks out of the catalog's folder.
    cat.families[0].models[1] = { ...m, file: '../digits/base.slm' };
    writeFileSync(join(g, 'fifo-cat', 'catalog.json'), JSON.stringify(cat));
    await refused(
      'catalog',
      'model file: ../digits/base.slm (out of the catalog folder)',
      ['lab', labRound({ catalog: 'fifo-cat/catalog.json' }, 'escape-model-round.json')],
      /catalog model digits-rotated path: path "\.\.\/digits\/base\.slm" leaves /,
    );
  });

  it('a model over the policy ceiling is refused before it is read', async () => {
    const path = labRound({}, 'ceiling.json');
    const r = JSON.parse(readFileSync(path, 'utf8'));
    r.policy.ceilings = { maxBytes: 100 };
    writeFileSync(path, JSON.stringify(r));
    // Refused before anything runs: no breed, no candidate in --out, no ledger or keyring.
    const out = join(dir, 'ceiling-out');
    mkdirSync(out);
    await refused(
      'round',
      'policy ceilings.maxBytes 100, models larger (with --out and a new --ledger)',
      ['lab', path, '--out', out, '--ledger', join(out, 'ledger.json'), '--json'],
      /model digits-base .* is \d+ bytes, over the 100-byte ceiling/,
      [out],
    );
    expect(readdirSync(out)).toEqual([]);
  });

  it('lab --out writes no candidate when the admission is refused (exit 1)', async () => {
    const ledger = join(dir, 'ledger.json');
    const out = join(dir, 'cands');
    const path = labRound({}, 'promote.json', 0);
    const first = await runGarden('lab', path, '--ledger', ledger, '--out', join(dir, 'cands-first'));
    expect(first.code).toBe(0);
    expect(readdirSync(join(dir, 'cands-first')).length).toBeGreaterThan(0);
    mkdirSync(out);
    await refused(
      'round',
      'the same promoting round again on its ledger, with --out',
      ['lab', path, '--ledger', ledger, '--out', out, '--json'],
      /is already the shadow of slot "digits"; nothing was admitted$/,
      [out, ledger],
    );
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('confinement: paths named inside a recipe', () => {
  const recipe = (name: string, body: Record<string, unknown>) => {
    const path = join(dir, 'garden', name);
    writeFileSync(
      path,
      JSON.stringify({
        kind: 'recipe',
        schemaVersion: 1,
        operator: 'blend',
        params: { weights: [0.5, 0.5] },
        seed: 1,
        parents: [{ path: 'digits/base.slm' }, { path: 'digits/rotated.slm' }],
        output: { path: 'out.slm' },
        ...body,
      }),
    );
    return path;
  };

  it('output.path ../../../../tmp/x.slm, or absolute: refused, nothing written', async () => {
    const escape = `garden-hostile-escape.slm`;
    rmSync(join('/tmp', escape), { force: true });
    await refused(
      'recipe',
      'output.path: ../../../../tmp/x.slm',
      ['breed', recipe('r1.json', { output: { path: `../../../../../../../../tmp/${escape}` } }), '--threads', '0'],
      /output\.path: path "(\.\.\/)+tmp\/garden-hostile-escape\.slm" leaves /,
      [join(dir, 'garden')],
    );
    expect(existsSync(join('/tmp', escape))).toBe(false);
    await refused(
      'recipe',
      'output.path: /tmp/x.slm (absolute)',
      ['breed', recipe('r2.json', { output: { path: `/tmp/${escape}` } }), '--threads', '0'],
      /output\.path: absolute path "\/tmp\/garden-hostile-escape\.slm" is outside /,
      [join(dir, 'garden')],
    );
    expect(existsSync(join('/tmp', escape))).toBe(false);
  });

  it('a parent at /dev/zero, a FIFO, or outside the root: refused before reading', async () => {
    const g = join(dir, 'garden');
    symlinkSync('/dev/zero', join(g, 'zero.slm'));
    await refused(
      'recipe',
      'parent: a symlink to /dev/zero',
      ['breed', recipe('r3.json', { parents: [{ path: 'zero.slm' }, { path: 'digits/base.slm' }] }), '--threads', '0'],
      /parent 0 path: path "zero\.slm" resolves through a symlink/,
      [g],
    );
    await refused(
      'recipe',
      'parent: /dev/zero with --root /',
      ['breed', recipe('r4.json', { parents: [{ path: 'zero.slm' }, { path: 'digits/base.slm' }] }), '--threads', '0', '--root', '/'],
      /parent 0 \/dev\/zero is a character device; only regular files are read/,
      [g],
    );
    execFileSync('mkfifo', [join(g, 'fifo.slm')]);
    await refused(
      'recipe',
      'parent: a FIFO',
      ['breed', recipe('r5.json', { parents: [{ path: 'fifo.slm' }, { path: 'digits/base.slm' }] }), '--threads', '0'],
      /parent 0 .*fifo\.slm is a FIFO/,
      [g],
    );
    await refused(
      'recipe',
      'parent: ../../etc/passwd',
      ['breed', recipe('r6.json', { parents: [{ path: '../../../../../../etc/passwd' }, { path: 'digits/base.slm' }] }), '--threads', '0'],
      /parent 0 path: path "(\.\.\/)+etc\/passwd" leaves /,
      [g],
    );
  });

  it('a good recipe still breeds, and its output replaces the target through a rename', async () => {
    const r = await runGarden('breed', recipe('ok.json', {}), '--threads', '0', '--json');
    expect(r.code, r.err).toBe(0);
    const out = join(dir, 'garden', 'out.slm');
    const ino = statSync(out).ino;
    expect((await runGarden('breed', recipe('ok.json', {}), '--threads', '0', '--json')).code).toBe(0);
    expect(statSync(out).ino).not.toBe(ino);
    expect(readdirSync(join(dir, 'garden')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('confinement: ONNX external data and the model folder', () => {
  it('a symlink inside the model folder pointing outside it is refused', async () => {
    const d = join(dir, 'onnx-link');
    mkdirSync(d);
    const { model, bin } = onnxWithExternal('weights.bin');
    writeFileSync(join(dir, 'outside.bin'), bin);
    symlinkSync(join(dir, 'outside.bin'), join(d, 'weights.bin'));
    writeFileSync(join(d, 'm.onnx'), model);
    const out = join(dir, 'onnx-link-out');
    await refused(
      'onnx',
      'external data: a symlink in the folder to a file outside it',
      ['import', join(d, 'm.onnx'), '--out', out],
      /onnx check failed: external data location: path "weights\.bin" resolves through a symlink to a file outside/,
    );
    expect(readdirSync(out)).toEqual([]);
  });

  it('a FIFO as external data is refused at once (no hang), and /dev/zero too', async () => {
    const d = join(dir, 'onnx-fifo');
    mkdirSync(d);
    execFileSync('mkfifo', [join(d, 'weights.bin')]);
    writeFileSync(join(d, 'm.onnx'), onnxWithExternal('weights.bin').model);
    const t0 = performance.now();
    await refused(
      'onnx',
      'external data: a FIFO',
      ['import', join(d, 'm.onnx'), '--out', join(dir, 'onnx-fifo-out')],
      /external data file .*weights\.bin is a FIFO; only regular files are read/,
    );
    expect(performance.now() - t0).toBeLessThan(5000);
    await refused('inspect', 'FILE is /dev/zero', ['inspect', '/dev/zero'], /model file \/dev\/zero is a character device/);
  });

  it('a killed import leaves DIR/.import-<pid>-*: the next import into DIR removes it', async () => {
    const d = join(dir, 'onnx-ok');
    mkdirSync(d);
    const { model, bin } = onnxWithExternal('weights.bin');
    writeFileSync(join(d, 'weights.bin'), bin);
    writeFileSync(join(d, 'm.onnx'), model);
    const out = join(dir, 'import-out');
    // A dead pid: spawn a process and let it exit.
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
    mkdirSync(join(out, `.import-${dead}-abcdef`), { recursive: true });
    writeFileSync(join(out, `.import-${dead}-abcdef`, 'half.slm'), 'partial');
    writeFileSync(join(out, `.m.slm.${dead}-zz9.tmp`), 'partial');
    mkdirSync(join(out, `.import-${process.pid}-live00`)); // a live writer's: kept
    const r = await runGarden('import', join(d, 'm.onnx'), '--out', out);
    expect(r.code).toBe(0);
    const left = readdirSync(out).sort();
    record({
      area: 'import',
      input: 'leftovers of a killed import (.import-<dead pid>-*, .*.tmp)',
      outcome: `removed at the next start; a live writer's .import-<pid>-* kept`,
      bytesLost: 0,
    });
    expect(left).toEqual([`.import-${process.pid}-live00`, 'm.graph.onnx', 'm.import.json', 'm.slm']);
  });
});

describe('species recomputed, never trusted; content hashed', () => {
  const g = () => join(dir, 'garden');
  /** A copy of the digits catalog in `sub` whose model `digits-rotated` is replaced by `bytes`. */
  const catalogWith = (sub: string, bytes: Uint8Array) => {
    const cat = JSON.parse(readFileSync(join(g(), 'catalog.json'), 'utf8'));
    const fam = cat.families[0];
    mkdirSync(join(g(), sub), { recursive: true });
    for (const f of [...fam.models, ...fam.suites, { file: fam.graph }]) {
      mkdirSync(dirname(join(g(), sub, f.file)), { recursive: true });
      writeFileSync(join(g(), sub, f.file), readFileSync(join(g(), f.file)));
    }
    const m = fam.models.find((x: { id: string }) => x.id === 'digits-rotated');
    writeFileSync(join(g(), sub, m.file), bytes);
    m.hash = sha256Hex(bytes);
    m.bytes = bytes.length;
    writeFileSync(join(g(), sub, 'catalog.json'), JSON.stringify(cat));
    return { catalog: `${sub}/catalog.json`, family: fam, file: join(g(), sub, m.file) };
  };
  /** The rotated specialist re-written the old way (no graph, vocabulary or content hashes), changed by `f`. */
  const legacy = (f: (t: Tensor[]) => Tensor[], species?: string) => {
    const src = readSlm(new Uint8Array(readFileSync(join(g(), 'digits', 'rotated.slm'))));
    const meta: Record<string, string> = { ...src.metadata };
    for (const k of [SLM_KEYS.graph, SLM_KEYS.vocabulary, SLM_KEYS.tensors]) delete meta[k];
    if (species) meta[SLM_KEYS.species] = species;
    return serializeSafetensors(f(src.tensors), meta);
  };

  it('a renamed tensor in a file without graph/vocabulary keeps its claim no longer: lab refuses it', async () => {
    const { catalog } = catalogWith(
      'renamed',
      legacy((t) => t.map((x, i) => (i === 0 ? { ...x, name: `${x.name}x` } : x))),
    );
    await refused(
      'species',
      'a starter model with one tensor renamed, species claim kept, no slm.graph/slm.vocabulary (lab)',
      ['lab', labRound({ catalog }, 'renamed-round.json')],
      /species check failed: model digits-rotated claims species [0-9a-f]{64} but its tensors, with the family's graph and vocabulary, give [0-9a-f]{64}$/,
    );
  });

  it('a model of another species stamped with the digits species is refused (eval, lab)', async () => {
    const { catalog, family, file } = catalogWith(
      'stamped',
      legacy(() => [fromFloat32('mail.weight', [3, 2], new Float32Array(6))]),
    );
    writeFileSync(
      file,
      legacy(() => [fromFloat32('mail.weight', [3, 2], new Float32Array(6))], family.species),
    );
    const cat = JSON.parse(readFileSync(join(g(), catalog), 'utf8'));
    cat.families[0].models.find((x: { id: string }) => x.id === 'digits-rotated').hash = sha256Hex(readFileSync(file));
    writeFileSync(join(g(), catalog), JSON.stringify(cat));
    await refused(
      'species',
      'a model of other tensors stamped with the digits species (eval)',
      ['eval', file, '--suite', 'digits-test', '--catalog', join(g(), catalog)],
      /species check failed: model .* claims species [0-9a-f]{64} but its tensors, with the family's graph and vocabulary, give/,
    );
    await refused(
      'species',
      'the same model in a lab round',
      ['lab', labRound({ catalog }, 'stamped-round.json')],
      /species check failed: model digits-rotated claims species/,
    );
  });

  it('a flipped species bit in a file that records graph and vocabulary is refused on every read', async () => {
    const b = new Uint8Array(readFileSync(join(g(), 'digits', 'rotated.slm')));
    const text = Buffer.from(b).toString('latin1');
    const at = text.indexOf('"slm.species":"') + '"slm.species":"'.length;
    b[at] = b[at] === 0x30 ? 0x31 : 0x30;
    const p = join(dir, 'flipped-species.slm');
    writeFileSync(p, b);
    await refused(
      'species',
      'one hex digit of slm.species changed (inspect)',
      ['inspect', p],
      /^garden inspect: species check failed: slm\.species is [0-9a-f]{64} but the tensors, graph and vocabulary give/,
    );
  });

  it("a flipped low bit in a parent's tensor data is detected (breed), whatever it does to scores", async () => {
    const b = new Uint8Array(readFileSync(join(g(), 'digits', 'rotated.slm')));
    b[b.length - 5] ^= 1;
    writeFileSync(join(g(), 'flipped.slm'), b);
    const recipe = join(g(), 'flipped-recipe.json');
    writeFileSync(
      recipe,
      JSON.stringify({
        kind: 'recipe',
        schemaVersion: 1,
        operator: 'blend',
        params: { weights: [0.5, 0.5] },
        seed: 1,
        parents: [{ path: 'digits/base.slm' }, { path: 'flipped.slm' }],
        output: { path: 'flipped-out.slm' },
      }),
    );
    await refused(
      'content',
      "one low bit flipped in a parent's tensor bytes (breed)",
      ['breed', recipe, '--threads', '0'],
      /content-hash check failed: tensor "[^"]+" hashes to [0-9a-f]{64} but slm\.tensors records [0-9a-f]{64}: its bytes were changed$/,
      [g()],
    );
    const { catalog } = catalogWith('flipped', b);
    await refused(
      'content',
      'the same file as a catalog model (lab; the catalog pin updated to match)',
      ['lab', labRound({ catalog }, 'flipped-round.json')],
      /content-hash check failed/,
    );
  });
});

describe('a ledger with authority', () => {
  let base = '';
  const sub = () => join(dir, 'ledgers');
  /** A copy of the signed ledger (and, unless told, its keyring and anchor) under `name`, its file changed by `edit`. */
  const copy = (name: string, edit: (f: LedgerFile) => void, companions: ('keys' | 'anchor')[] = ['keys', 'anchor']) => {
    const p = join(sub(), name);
    const f = JSON.parse(readFileSync(base, 'utf8')) as LedgerFile;
    edit(f);
    writeFileSync(p, JSON.stringify(f, null, 2));
    if (companions.includes('keys')) writeFileSync(keyringPath(p), readFileSync(keyringPath(base)));
    if (companions.includes('anchor')) writeFileSync(anchorPath(p), readFileSync(anchorPath(base)));
    return p;
  };
  /** Recompute every index, link and hash after `from`, and the head: a correct re-chain. */
  const rechain = (f: LedgerFile) => {
    let prev = f.records[0]?.entry.prev ?? '0'.repeat(64);
    f.records.forEach((r, i) => {
      r.entry = { ...r.entry, index: i, prev };
      r.hash = manifestHash(r.entry);
      prev = r.hash;
    });
    f.head = { length: f.records.length, hash: prev };
  };
  const both = async (input: string, p: string, err: RegExp) => {
    const v = await runGarden('ledger', 'verify', p);
    record({
      area: 'ledger',
      input: `${input} (garden ledger verify)`,
      outcome: v.code === 1 ? `refused: ${v.out.split('\n').slice(1).join(' ').trim()}` : `NOT refused (exit ${v.code})`,
      bytesLost: 0,
    });
    expect(v.code).toBe(1);
    expect(v.out).toMatch(err);
    const out = join(dir, `cands-${basename(p)}`);
    mkdirSync(out, { recursive: true });
    await refused(
      'ledger',
      `${input} (garden lab --ledger)`,
      ['lab', labRound({}, `round-${basename(p)}.json`, 0), '--ledger', p, '--out', out, '--json'],
      /^garden lab: ledger .*refused/,
      [p, out],
    );
  };

  beforeAll(async () => {
    mkdirSync(sub(), { recursive: true });
    base = join(sub(), 'ledger.json');
    const r = await runGarden('lab', labRound({}, 'ledger-round.json', 0), '--ledger', base, '--json');
    expect(r.code, r.err).toBe(0);
    expect((await runGarden('ledger', 'verify', base)).code).toBe(0);
  });

  it('a forged champion entry, correctly chained, is refused: unsigned, or signed with an unknown key', async () => {
    const forge = (f: LedgerFile) => {
      const last = f.records[f.records.length - 1];
      const entry = {
        ...last.entry,
        index: f.records.length,
        prev: last.hash,
        payload: { ...last.entry.payload, action: 'champion', reason: 'forged' },
      };
      f.records.push({ hash: manifestHash(entry), entry });
      f.head = { length: f.records.length, hash: manifestHash(entry) };
    };
    await both(
      'a forged release entry making a candidate champion, chained, unsigned',
      copy('forged.json', forge),
      /entry 4 \[signature\]: entry 4 \(release\) is not signed/,
    );
    const evil = await createSigner(await generateKeyring());
    const p = copy('forged-signed.json', (f) => {
      forge(f);
      const r = f.records[f.records.length - 1];
      r.sig = { zone: 'release', key: keyId(evil.keys.release), value: 'AAAA' };
    });
    const f = JSON.parse(readFileSync(p, 'utf8')) as LedgerFile;
    f.records[4].sig = await evil.sign('release', entryMessage(f.records[4].hash));
    writeFileSync(p, JSON.stringify(f));
    await both(
      'the same entry signed with a key the policy never pinned',
      p,
      /entry 4 \[key\]: entry 4 \(release\) is signed with an unknown release key/,
    );
    const replayed = copy('forged-replayed.json', (g) => {
      forge(g);
      g.records[4].sig = { ...g.records[3].sig! }; // the real release key's signature of another entry
    });
    await both(
      'the forged entry carrying a real release signature copied from entry 3',
      replayed,
      /entry 4 \[signature\]: entry 4 \(release\): its release signature does not verify: the entry was forged or changed after signing/,
    );
    const z = copy('forged-zone.json', (g) => {
      forge(g);
      g.records[4].sig = { ...g.records[2].sig! }; // the admission's: the evaluation zone's key
    });
    await both(
      "a release entry carrying the evaluation zone's signature",
      z,
      /entry 4 \[signature\]: entry 4: a release entry is signed by the evaluation zone; only the release zone may write it/,
    );
  });

  it('a full re-chain after editing the policy (margin 0.5, policyHash fixed) is refused; so is one re-signed with other keys', async () => {
    const edit = (f: LedgerFile) => {
      const pol = f.records[0].entry.payload.policy as Policy;
      pol.primary.margin = 0.5;
      f.records[0].entry.payload.policyHash = policyHash(pol);
      rechain(f);
    };
    await both(
      'the policy edited and every entry re-chained, signatures kept',
      copy('rechain.json', edit),
      /entry 0 \[signature\]: entry 0 \(policy-change\): its policy signature does not verify/,
    );
    const evil = await generateKeyring();
    const signer = await createSigner(evil);
    const p = copy(
      'resigned.json',
      (f) => {
        edit(f);
        f.records[0].entry.payload.keys = { ...evil.public };
        rechain(f);
      },
      ['keys'],
    );
    const f = JSON.parse(readFileSync(p, 'utf8')) as LedgerFile;
    for (const r of f.records) r.sig = await signer.sign(zoneOf(r.entry.type)!, entryMessage(r.hash));
    writeFileSync(p, JSON.stringify(f));
    await both(
      're-chained and re-signed under new keys pinned in the edited policy',
      p,
      /entry 0 \[key\]: entry 0 pins zone keys .* but this garden's keyring holds .*: an unknown key/,
    );
  });

  it('a truncation with the head rewritten is caught by the anchor kept apart', async () => {
    const p = copy('truncated.json', (f) => {
      f.records = f.records.slice(0, 2);
      f.head = { length: 2, hash: f.records[1].hash };
    });
    await both(
      'the last two entries removed and the head rewritten to match',
      p,
      /\[anchor\]: the anchor records 4 entries but the ledger holds 2: entries from index 2 were removed \(truncated\)/,
    );
    const q = copy(
      'anchor-forged.json',
      (f) => {
        f.records = f.records.slice(0, 2);
        f.head = { length: 2, hash: f.records[1].hash };
      },
      ['keys'],
    );
    writeFileSync(
      anchorPath(q),
      JSON.stringify({
        ...JSON.parse(readFileSync(anchorPath(base), 'utf8')),
        length: 2,
        head: JSON.parse(readFileSync(q, 'utf8')).head.hash,
      }),
    );
    await both('the same, with the anchor rewritten to the new head', q, /\[anchor\]: the anchor's signature does not verify/);
    const u = copy(
      'unsigned.json',
      (f) => {
        for (const r of f.records) delete r.sig;
        delete f.records[0].entry.payload.keys;
        rechain(f);
      },
      ['keys'],
    );
    await both('every signature and the key pin stripped (the keyring beside it)', u, /\[signature\]: the ledger is unsigned/);
  });

  it('an entry signed with a rotated-out key is refused with its index', async () => {
    const a = await generateKeyring();
    const b = await generateKeyring();
    const store = new MemoryLedgerStore();
    const la = await Ledger.open(store, { signer: await createSigner(a) });
    const pol = JSON.parse(readFileSync(base, 'utf8')).records[0].entry.payload.policy;
    await PolicyZone.open(la, pol);
    await la.append('policy-change', {
      policy: pol,
      policyHash: policyHash(pol),
      previous: policyHash(pol),
      reason: 'rotate the zone keys',
      keys: { ...b.public },
    });
    // The garden's keyring after the rotation: the new keys, and the ones its ledger first pinned.
    const lb = await Ledger.open(new MemoryLedgerStore(la.records()), { signer: await createSigner({ ...b, history: [a.public] }) });
    await lb.append('approval', { reason: 'signed with the new policy key' });
    // A writer still holding the old keys: refused on open, and its entry refused by verify.
    await expect(Ledger.open(new MemoryLedgerStore(lb.records()), { signer: await createSigner(a) })).rejects.toThrow(
      /the keys in force at its last entry are not the keyring's/,
    );
    const oldSigner = await createSigner(a);
    const last = lb.records()[lb.length - 1];
    const entry = { ...last.entry, index: lb.length, prev: last.hash, payload: { reason: 'signed with the old policy key' } };
    const staleRecord = { hash: manifestHash(entry), entry, sig: await oldSigner.sign('policy', entryMessage(manifestHash(entry))) };
    const stale = await Ledger.open(new MemoryLedgerStore([...lb.records(), staleRecord]));
    const p = join(sub(), 'rotated.json');
    writeFileSync(p, serializeLedger(stale));
    writeFileSync(keyringPath(p), JSON.stringify(a));
    const ok = await verifyAuthority(lb.records(), { trusted: a.public });
    expect(ok.problems).toEqual([]);
    expect(ok.keys!.policy).toBe(keyId(b.public.policy));
    const v = await runGarden('ledger', 'verify', p);
    record({
      area: 'ledger',
      input: 'an approval signed with the policy key rotated out at entry 1 (garden ledger verify)',
      outcome: `refused: ${v.out.split('\n').slice(1).join(' ').trim()}`,
      bytesLost: 0,
    });
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/entry 3 \[key\]: entry 3 \(approval\) is signed with policy key [0-9a-f]{16}, rotated out before it/);
  });
});

describe('output hygiene and limits checked before parsing', () => {
  /** A safetensors file from header text (padded to 8) and `data` bytes. */
  const st = (header: string, data = 0, lengthOverride?: [number, number]) => {
    const h = Buffer.from(header);
    const hb = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
    const len = Buffer.alloc(8);
    len.writeUInt32LE(lengthOverride ? lengthOverride[0] : hb.length, 0);
    len.writeUInt32LE(lengthOverride ? lengthOverride[1] : 0, 4);
    return Buffer.concat([len, hb, Buffer.alloc(data)]);
  };
  const file = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it('a tensor name with a newline and escape codes prints as one escaped line', async () => {
    const p = file('esc.safetensors', st('{"evil\\n\\u001b[31mred\\u001b[0m\\u202e":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4));
    const r = await runGarden('inspect', p);
    expect(r.code).toBe(0);
    expect(r.out).toContain('  evil\\n\\x1b[31mred\\x1b[0m\\u202e  F32');
    // eslint-disable-next-line no-control-regex -- what must not be printed
    expect(r.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202e]/);
    record({
      area: 'output',
      input: 'tensor name with \\n, ESC[31m and U+202E (inspect)',
      outcome: 'printed escaped on one line: evil\\n\\x1b[31mred\\x1b[0m\\u202e',
      bytesLost: 0,
    });
    // In a refusal too: the name reaches the one error line escaped.
    const q = file('esc-bad.safetensors', st('{"evil\\n\\u001b[2J":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', 8));
    await refused(
      'output',
      'tensor name with \\n and ESC[2J in a refused file',
      ['inspect', q],
      /^garden inspect: dtype check failed: tensor "evil\\\\n\\\\u001b\[2J" has dtype/,
    );
  });

  it('100k nested arrays, 200k tensors, header lengths 0 and 2^32: each refused by its own check', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    await refused(
      'limits',
      'a shape of 100k nested arrays',
      ['inspect', file('deep.safetensors', st(`{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`))],
      /^garden inspect: nesting check failed: header JSON nests deeper than 8 levels$/,
    );
    const many = Array.from({ length: 200_000 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',');
    await refused(
      'limits',
      '200k tensors in one header',
      ['inspect', file('many.safetensors', st(`{${many}}`))],
      /^garden inspect: tensor-count check failed: header has more than 65536 tensors$/,
    );
    const one = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    await refused(
      'limits',
      'declared header length 0',
      ['inspect', file('len0.safetensors', st(one, 4, [0, 0]))],
      /^garden inspect: header-length check failed: declared header length 0 is outside/,
    );
    await refused(
      'limits',
      'declared header length 2^32 + n',
      ['inspect', file('len4g.safetensors', st(one, 4, [56, 1]))],
      /^garden inspect: header-length check failed: declared header length 4294967352 is outside/,
    );
    await refused(
      'limits',
      'declared header length 17 MiB (over the 16 MiB ceiling)',
      ['import', file('len17m.safetensors', st(one, 4, [17 * 1024 * 1024, 0])), '--out', join(dir, 'len-out')],
      /^garden import: header-length check failed: declared header length 17825792 is outside 1\.\.16777216$/,
    );
  });

  it('a real 60 MB header is refused by its length before it is read or parsed (fast, bounded)', async () => {
    const entry = (i: number) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},`;
    const parts: string[] = [];
    let size = 0;
    for (let i = 0; size < 60 * 1024 * 1024; i++) size += (parts[i] = entry(i)).length;
    const p = file('big-header.safetensors', st(`{${parts.join('').slice(0, -1)}}`));
    const t0 = performance.now();
    await refused(
      'limits',
      'a 60 MB header (real bytes, not only a declared length)',
      ['inspect', p],
      /^garden inspect: header-length check failed: declared header length \d+ is outside 1\.\.16777216$/,
    );
    expect(performance.now() - t0).toBeLessThan(3000);
    rmSync(p);
  });

  it('an ONNX model nested 20k deep is refused by its nesting check, not a stack overflow', async () => {
    const varint = (n: number) => {
      const o: number[] = [];
      while (n > 127) {
        o.push((n & 127) | 128);
        n = Math.floor(n / 128);
      }
      o.push(n);
      return Buffer.from(o);
    };
    const field = (tag: number, b: Buffer) => Buffer.concat([varint(tag), varint(b.length), b]);
    let g = Buffer.alloc(0);
    for (let i = 0; i < 20_000; i++) g = field((1 << 3) | 2, field((5 << 3) | 2, field((6 << 3) | 2, g)));
    const model = Buffer.concat([Buffer.from([0x08, 0x08]), field((7 << 3) | 2, g), field((8 << 3) | 2, Buffer.from([0x10, 0x0d]))]);
    await refused(
      'limits',
      'an ONNX graph whose node attributes nest subgraphs 20k deep',
      ['inspect', file('deep.onnx', model)],
      /^garden inspect: nesting check failed: the ONNX model nests its messages too deeply to decode$/,
    );
  });
});

describe('confine.ts', () => {
  it('confinedPath: ".." that stays inside the root is fine; out, absolute or through a symlink is refused', () => {
    const root = join(dir, 'garden');
    expect(confinedPath(root, join(root, 'digits'), '../catalog.json', 'x')).toBe(join(root, 'catalog.json'));
    expect(() => confinedPath(root, root, '../x', 'x')).toThrow(/leaves/);
    expect(() => confinedPath(root, root, '/etc/passwd', 'x')).toThrow(/absolute path "\/etc\/passwd" is outside/);
    expect(confinedPath(root, join(root, 'digits'), join(root, 'catalog.json'), 'x')).toBe(join(root, 'catalog.json')); // absolute, inside the root
    expect(() => confinedPath(root, root, 'a\nb', 'x')).toThrow(/control characters/);
    expect(() => confinedPath(root, root, 'link.json', 'x')).toThrow(/symlink/);
    // An output not yet written: checked by its nearest existing folder.
    expect(confinedPath(root, root, 'new/dir/out.slm', 'x')).toBe(join(root, 'new', 'dir', 'out.slm'));
  });

  it('readRegularSync refuses a device and a file over its ceiling; writeFileAtomicSync leaves no temp', () => {
    expect(() => readRegularSync('/dev/zero', 'x', 10)).toThrow(/character device/);
    const f = join(dir, 'ten.bin');
    writeFileSync(f, new Uint8Array(10));
    expect(() => readRegularSync(f, 'x', 9)).toThrow(/10 bytes, over the 9-byte ceiling/);
    expect(readRegularSync(f, 'x', 10).length).toBe(10);
    const t = join(dir, 'atomic', 'a.txt');
    writeFileAtomicSync(t, 'one');
    writeFileAtomicSync(t, 'two');
    expect(readFileSync(t, 'utf8')).toBe('two');
    expect(readdirSync(dirname(t))).toEqual(['a.txt']);
    expect(() => writeFileAtomicSync('/dev/null', 'x')).toThrow(/character device/);
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(cleanLeftovers(join(dir, 'no-such-dir'))).toEqual([]);
    expect(existsSync(join(dir, 'atomic'))).toBe(true);
  });
});

describe('served headers (vite.config.ts; checked live in scripts/security-headers.test.ts)', () => {
  it('no CORS for another origin, no framing, no form posts elsewhere, no sniffing, no referrer', async () => {
    const config = (await import('../vite.config.ts')).default as {
      server: { cors: unknown; headers: Record<string, string> };
      preview: { cors: unknown; headers: Record<string, string> };
    };
    for (const [name, server] of [
      ['dev', config.server],
      ['preview', config.preview],
    ] as const) {
      const h = server.headers;
      const ok =
        server.cors === false &&
        /frame-ancestors 'none'/.test(h['Content-Security-Policy']) &&
        /form-action 'self'/.test(h['Content-Security-Policy']) &&
        h['X-Content-Type-Options'] === 'nosniff' &&
        h['Referrer-Policy'] === 'no-referrer' &&
        h['Cross-Origin-Opener-Policy'] === 'same-origin' &&
        h['Cross-Origin-Embedder-Policy'] === 'require-corp';
      record({
        area: 'headers',
        input: `a page on another localhost origin reading the ${name} server, or framing it`,
        outcome: ok
          ? "refused: no Access-Control-Allow-Origin; CSP frame-ancestors 'none', form-action 'self'; nosniff; no-referrer; COOP/COEP kept"
          : 'NOT refused',
        bytesLost: 0,
      });
      expect(ok).toBe(true);
    }
  });
});

describe('docs/RELIABILITY.md', () => {
  // Last in the file, so every case above has run (a filtered run skips this and writes nothing).
  it('is written from the cases tried in this run, with 0 bytes lost', () => {
    const md = writeReliability();
    expect(md).toMatch(/bytes lost in all: 0\./);
    expect(readFileSync(DOC, 'utf8').startsWith(md)).toBe(true); // the fuzz stages' section follows
  });
});
