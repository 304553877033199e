import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGarden } from '../test-run.ts';
import { bredCandidate } from './bundle-test-helpers.ts';
import { fromBase64, toBase64 } from '../../src/core/share/dsse.ts';

const dir = mkdtempSync(join(tmpdir(), 'garden-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface BundleJson {
  envelope: { payload: string; signatures: { sig: string }[] };
  files: Record<string, string>;
}

let slm = '';
const bundlePath = join(dir, 'b.json');
const pub = join(dir, 'pub.jwk');
let original: BundleJson;

beforeAll(async () => {
  ({ slm } = await bredCandidate(join(dir, 'signer')));
  const b = await runGarden('bundle', slm, '--key', join(dir, 'signer.jwk'), '--out', bundlePath, '--with-model');
  if (b.code !== 0) throw new Error(b.err);
  const k = await runGarden('key', join(dir, 'signer.jwk'), '--public');
  writeFileSync(pub, k.out);
  original = JSON.parse(readFileSync(bundlePath, 'utf8')) as BundleJson;
  // The verifier's own copy of the parents, under other names, with an unrelated file beside them.
  mkdirSync(join(dir, 'mine'));
  for (const s of [1, 2, 3]) copyFileSync(join(dir, 'signer', 'parents', `p${s}.slm`), join(dir, 'mine', `copy-${4 - s}.slm`));
  writeFileSync(join(dir, 'mine', 'junk.slm'), 'not a model');
});

function tampered(change: (b: BundleJson) => void): string {
  const b = JSON.parse(JSON.stringify(original)) as BundleJson;
  change(b);
  const path = join(dir, `t${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(b));
  return path;
}

function flip(b64: string, at: number): string {
  const raw = fromBase64(b64);
  raw[at] ^= 0x01;
  return toBase64(raw);
}

describe('garden verify', () => {
  it('a real breed, bundled and verified with the parents: "reproduced: identical hash", exit 0', async () => {
    const r = await runGarden('verify', bundlePath, '--trust', pub, '--parents', join(dir, 'mine'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^signature: good, key [0-9a-f]{16}$/m);
    expect(r.out).toMatch(/^hashes: {4}5 subject\(s\) match$/m);
    expect(r.out.split('\n').at(-1)).toBe('reproduced: identical hash');
  });

  it('without --parents: signature and hashes only, and says so', async () => {
    const r = await runGarden('verify', bundlePath, '--trust', pub);
    expect(r.code).toBe(0);
    expect(r.out).toContain('reproduction: not checked (give --parents DIR)');
  });

  it('one changed byte (envelope, subject digest, document, model) is refused with the reason, exit 1', async () => {
    const payload = new TextDecoder().decode(fromBase64(original.envelope.payload));
    const digestAt = payload.indexOf('"sha256":"') + 20;
    const cases: [string, (b: BundleJson) => void, RegExp][] = [
      [
        'a subject digest in the signed statement',
        (b) => (b.envelope.payload = flip(b.envelope.payload, digestAt)),
        /^garden verify: refused: the signature by key [0-9a-f]{16} does not verify/,
      ],
      ['the signature', (b) => (b.envelope.signatures[0].sig = flip(b.envelope.signatures[0].sig, 3)), /does not verify/],
      [
        'the lineage document',
        (b) => (b.files['lineage-template.json'] = flip(b.files['lineage-template.json'], 50)),
        /^garden verify: refused: file lineage-template\.json has sha256 [0-9a-f]{64}, the signed statement says [0-9a-f]{64}$/,
      ],
      ['the model', (b) => (b.files['child.slm'] = flip(b.files['child.slm'], 200)), /^garden verify: refused: file child\.slm has sha256/],
    ];
    for (const [what, change, reason] of cases) {
      const r = await runGarden('verify', tampered(change), '--trust', pub, '--parents', join(dir, 'mine'));
      expect(r.code, what).toBe(1);
      expect(r.err, what).toMatch(reason);
      expect(r.out, what).not.toContain('reproduced');
    }
  });

  it('a bundle signed by an unknown key is refused, naming it', async () => {
    const stranger = await runGarden('key', join(dir, 'stranger.jwk'), '--public');
    writeFileSync(join(dir, 'stranger.pub.jwk'), stranger.out);
    const r = await runGarden('verify', bundlePath, '--trust', join(dir, 'stranger.pub.jwk'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^garden verify: refused: signed by an unknown key \([0-9a-f]{16}\); trusted: [0-9a-f]{16}$/);
  });

  it('a missing parent fails reproduction with exit 1 and names it', async () => {
    mkdirSync(join(dir, 'partial'));
    copyFileSync(join(dir, 'signer', 'parents', 'p2.slm'), join(dir, 'partial', 'p2.slm'));
    const r = await runGarden('verify', bundlePath, '--trust', pub, '--parents', join(dir, 'partial'));
    expect(r.code).toBe(1);
    expect(r.out.split('\n').at(-1)).toMatch(/^not reproduced: missing parents [0-9a-f]{64}, [0-9a-f]{64}$/);
  });

  const starter = join(process.cwd(), 'public', 'starter', 'digits');
  // The starter digits models are a build output (npm run starter): checked wherever they are built.
  it.skipIf(!existsSync(join(starter, 'base.slm')))(
    'the starter digits models: a TIES breed bundled without the model, reproduced from public/starter/digits',
    async () => {
      const work = join(dir, 'digits');
      mkdirSync(work);
      const recipe = join(work, 'ties.json');
      writeFileSync(
        recipe,
        JSON.stringify({
          kind: 'recipe',
          schemaVersion: 1,
          operator: 'ties',
          params: { density: 0.3 },
          seed: 3,
          base: { path: join(starter, 'base.slm') },
          parents: ['noisy', 'rotated', 'thick'].map((n) => ({ path: join(starter, `${n}.slm`) })),
          output: {},
        }),
      );
      const bred = await runGarden('breed', recipe, '--json', '--out', join(work, 'digits-ties.slm'), '--root', process.cwd());
      expect(bred.code, bred.err).toBe(0);
      writeFileSync(join(work, 'digits-ties.slm.records.json'), bred.out);
      // Its evaluation on the frozen test suite travels as a signed sidecar.
      const ev = await runGarden('eval', join(work, 'digits-ties.slm'), '--suite', 'digits-test', '--json');
      expect(ev.code, ev.err).toBe(0);
      writeFileSync(join(work, 'eval.json'), ev.out);
      const b = await runGarden(
        'bundle',
        join(work, 'digits-ties.slm'),
        '--key',
        join(dir, 'signer.jwk'),
        '--out',
        join(work, 'b.json'),
        '--sidecar',
        join(work, 'eval.json'),
      );
      expect(b.code, b.err).toBe(0);
      const files = Object.keys((JSON.parse(readFileSync(join(work, 'b.json'), 'utf8')) as BundleJson).files);
      expect(files).toContain('evaluation-sidecar.json');
      const r = await runGarden(
        'verify',
        join(work, 'b.json'),
        '--trust',
        pub,
        '--parents',
        starter,
        '--model',
        join(work, 'digits-ties.slm'),
      );
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/^hashes: {4}6 subject\(s\) match$/m);
      expect(r.out.split('\n').at(-1)).toBe('reproduced: identical hash');
    },
  );
});
