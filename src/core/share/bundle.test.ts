import { describe, expect, it } from 'vitest';
import { makeBundle, openBundle, reproduce, reproductionPlan, type Bundle, type OpenedBundle } from './bundle.ts';
import {
  checkJwk,
  checkSealedKey,
  fromBase64,
  generateKey,
  generateSealedKey,
  pae,
  publicJwk,
  toBase64,
  verifyEnvelope,
  signEnvelope,
  type PrivateJwk,
} from './dsse.ts';
import { PAYLOAD_TYPE } from './intoto.ts';
import { makeManifest, manifestJson } from '../manifest/index.ts';
import { sha256Hex } from '../hash.ts';
import { randomModel } from '../operators/test-data.ts';
import { checkSlmMetadata, speciesId, speciesSignature, writeSlm, readSlm, type SlmFile } from '../format/slm.ts';
import { breed } from '../operators/breed.ts';
import { cpuBackend } from '../operators/backend.ts';
import { candidateSlm } from '../operators/candidate.ts';
import { parentCompatibility, recordBreed } from '../lab/records.ts';

const dec = new TextDecoder();
const enc = new TextEncoder();

function parent(seed: number): SlmFile {
  const tensors = randomModel(seed);
  return readSlm(
    writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', ['a', 'b', 'c'])), graph: '', vocabulary: ['a', 'b', 'c'] }),
  );
}

/** A real breed: DARE-TIES (seeded drops) over a base and two parents, recorded as the CLI records it. */
async function realBreed() {
  const models = [parent(1), parent(2), parent(3)];
  const result = await breed(
    { operator: 'dare-ties', params: { drop: 0.4, weights: [0.6, 0.4] }, seed: 11, parents: models.map((m) => m.tensors) },
    cpuBackend,
  );
  const file = candidateSlm(
    result,
    models.map((m) => ({ ...checkSlmMetadata(m.metadata), hash: m.hash, tensors: m.tensors, metadata: m.metadata })),
  );
  const compatibility = parentCompatibility(models.map((m) => ({ id: m.hash, species: m.species, tensors: m.tensors })));
  const records = recordBreed({ result, file, parents: models.map((m) => m.hash), compatibility });
  return { models, file, records };
}

const clone = (b: Bundle): Bundle => JSON.parse(JSON.stringify(b)) as Bundle;

/** Flip one bit of one byte of a base64 field's decoded bytes. */
function flip(b64: string, at: number): string {
  const raw = fromBase64(b64);
  raw[at] ^= 1;
  return toBase64(raw);
}

describe('DSSE', () => {
  it("PAE is byte for byte the spec's encoding", () => {
    expect(dec.decode(pae('http://example.com/HelloWorld', enc.encode('hello world')))).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
    expect(dec.decode(pae('t', new Uint8Array(0)))).toBe('DSSEv1 1 t 0 ');
    // LEN counts bytes, not characters.
    expect(dec.decode(pae('é', enc.encode('λ')))).toBe('DSSEv1 2 é 2 λ');
  });

  it('standard base64 with padding, one encoding per byte string', () => {
    expect(toBase64(enc.encode('hello world'))).toBe('aGVsbG8gd29ybGQ=');
    expect(toBase64(new Uint8Array([0xfb, 0xff]))).toBe('+/8=');
    expect(dec.decode(fromBase64('aGVsbG8gd29ybGQ='))).toBe('hello world');
    expect(() => fromBase64('aGVsbG8gd29ybGR=')).toThrow(/canonical/);
    expect(() => fromBase64('aGVsbG8gd29ybGQ')).toThrow(/base64/);
  });

  it('signs P1363 (64-byte r‖s) and verifies only over the same PAE, by a trusted key', async () => {
    const key = await generateKey();
    const env = await signEnvelope(PAYLOAD_TYPE, enc.encode('{"a":1}'), key);
    expect(fromBase64(env.signatures[0].sig)).toHaveLength(64);
    expect(env.signatures[0].keyid).toBe(key.kid);
    expect(await verifyEnvelope(env, [publicJwk(key)])).toMatchObject({ ok: true, keyid: key.kid });
    expect(await verifyEnvelope({ ...env, payloadType: 'application/json' }, [publicJwk(key)])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/does not verify/),
    });
    const other = await generateKey();
    expect(await verifyEnvelope(env, [publicJwk(other)])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^signed by an unknown key/),
    });
    // A key file that lies about its id is refused.
    expect(() => checkJwk({ ...publicJwk(key), kid: other.kid }, 'public')).toThrow(/is not its key's id/);
    expect(() => checkJwk(publicJwk(key), 'private')).toThrow(/no private part/);
  });
});

describe('signed bundles', () => {
  it('a sealed key (non-extractable private CryptoKey, as the app keeps it) signs a bundle its public JWK verifies', async () => {
    const sealed = await generateSealedKey();
    expect(checkSealedKey(sealed).public).toEqual(checkJwk(sealed.public, 'public'));
    await expect(crypto.subtle.exportKey('jwk', sealed.private as CryptoKey)).rejects.toThrow();
    const { file, records } = await realBreed();
    const bundle = await makeBundle(
      { model: { name: 'c.slm', bytes: file.bytes }, documents: records.manifests, withModel: false },
      sealed,
    );
    expect(bundle.envelope.signatures[0].keyid).toBe(sealed.public.kid);
    expect(await openBundle(clone(bundle), [sealed.public])).toMatchObject({ ok: true, bundle: { keyid: sealed.public.kid } });
    const other = await generateKey();
    const extractable = {
      ...sealed,
      private: (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])).privateKey,
    };
    expect(() => checkSealedKey(extractable)).toThrow(/non-extractable/);
    expect(await openBundle(clone(bundle), [publicJwk(other)])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^signed by an unknown key/),
    });
  });

  let key: PrivateJwk;
  it('a real breed: bundle with the model, verify, reproduce to the identical hash', async () => {
    key = await generateKey();
    const { models, file, records } = await realBreed();
    const bundle = await makeBundle(
      { model: { name: 'child.slm', bytes: file.bytes }, documents: records.manifests, withModel: true },
      key,
    );
    const statement = JSON.parse(dec.decode(fromBase64(bundle.envelope.payload))) as {
      _type: string;
      subject: { name: string; digest: { sha256: string } }[];
    };
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject.map((s) => s.name)).toEqual([
      'child.slm',
      'compatibility-report.json',
      'lineage-template.json',
      'operator-receipt.json',
      'candidate-manifest.json',
    ]);
    expect(statement.subject[0].digest.sha256).toBe(file.hash);
    const v = await openBundle(clone(bundle), [publicJwk(key)]);
    if (!v.ok) throw new Error(v.reason);
    expect(v.bundle.documents.lineage.parents).toEqual(models.map((m) => m.hash));
    // Parents in any order, with a stranger among them: picked by hash.
    const r = await reproduce(v.bundle, [models[2], parent(9), models[0], models[1]]);
    expect(r).toEqual({ ok: true, verdict: 'reproduced: identical hash', hash: file.hash });
  });

  it('one changed byte anywhere is refused with the reason', async () => {
    const { file, records } = await realBreed();
    const bundle = await makeBundle(
      { model: { name: 'child.slm', bytes: file.bytes }, documents: records.manifests, withModel: true },
      key,
    );
    const trust = [publicJwk(key)];
    const reason = async (b: Bundle) => {
      const v = await openBundle(b, trust);
      return v.ok ? 'accepted' : v.reason;
    };
    expect(await reason(clone(bundle))).toBe('accepted');
    // The envelope: the signed statement (a byte in a subject's digest), and the signature itself.
    const payload = dec.decode(fromBase64(bundle.envelope.payload));
    const at = payload.indexOf(file.hash) + 5;
    const b1 = clone(bundle);
    b1.envelope.payload = flip(bundle.envelope.payload, at);
    expect(await reason(b1)).toMatch(/^the signature by key [0-9a-f]{16} does not verify/);
    const b2 = clone(bundle);
    b2.envelope.signatures[0].sig = flip(bundle.envelope.signatures[0].sig, 40);
    expect(await reason(b2)).toMatch(/does not verify/);
    // A document, and the model.
    const b3 = clone(bundle);
    b3.files['lineage-template.json'] = flip(bundle.files['lineage-template.json'], 30);
    expect(await reason(b3)).toMatch(/^file lineage-template\.json has sha256 [0-9a-f]{64}, the signed statement says [0-9a-f]{64}$/);
    const b4 = clone(bundle);
    b4.files['child.slm'] = flip(bundle.files['child.slm'], file.bytes.length - 3);
    expect(await reason(b4)).toMatch(/^file child\.slm has sha256/);
    // A file nobody signed, and a signed document left out.
    const b5 = clone(bundle);
    b5.files['extra.json'] = toBase64(enc.encode('{}'));
    expect(await reason(b5)).toBe('file extra.json is not among the signed subjects');
    const b6 = clone(bundle);
    delete b6.files['operator-receipt.json'];
    expect(await reason(b6)).toBe('the signed document operator-receipt.json is missing from the bundle');
    const b7 = clone(bundle);
    delete b7.files['child.slm'];
    expect(await reason(b7)).toBe('the model child.slm was signed as carried but is missing');
  });

  it('a bundle carrying release state (an old selector registry version) is refused, signed or not', async () => {
    const { file, records } = await realBreed();
    const registry = makeManifest('selector-registry', {
      slot: 'digits',
      version: 1,
      contract: { inputLength: 4, outputLength: 3, timeoutMs: 1000, compare: 'argmax' },
      champion: 'base',
      canary: null,
      shadow: null,
      fallback: [],
    });
    const why = /^a bundle carries no selector-registry: release state .* is never imported, so none can be replayed$/;
    await expect(
      makeBundle({ model: { name: 'c.slm', bytes: file.bytes }, documents: [...records.manifests, registry], withModel: false }, key),
    ).rejects.toThrow(why);
    // Signed by a trusted key all the same (the statement re-signed with the registry as a subject).
    const bundle = await makeBundle({ model: { name: 'c.slm', bytes: file.bytes }, documents: records.manifests, withModel: false }, key);
    const bytes = enc.encode(manifestJson(registry));
    const statement = JSON.parse(dec.decode(fromBase64(bundle.envelope.payload))) as { subject: unknown[] };
    statement.subject.push({ name: 'selector-registry.json', digest: { sha256: sha256Hex(bytes) } });
    const replay = clone(bundle);
    replay.envelope = await signEnvelope(PAYLOAD_TYPE, enc.encode(JSON.stringify(statement)), key);
    replay.files['selector-registry.json'] = toBase64(bytes);
    expect(await openBundle(replay, [publicJwk(key)])).toMatchObject({ ok: false, reason: expect.stringMatching(why) });
  });

  it('a bundle signed by an unknown key is refused, naming the key', async () => {
    const { file, records } = await realBreed();
    const stranger = await generateKey();
    const bundle = await makeBundle(
      { model: { name: 'child.slm', bytes: file.bytes }, documents: records.manifests, withModel: false },
      stranger,
    );
    const v = await openBundle(bundle, [publicJwk(key)]);
    expect(v).toEqual({ ok: false, reason: `signed by an unknown key (${stranger.kid}); trusted: ${key.kid}` });
  });

  it('without the model: hashes still bind it; a given model must match; documents must belong to the model', async () => {
    const { models, file, records } = await realBreed();
    const bundle = await makeBundle(
      { model: { name: 'child.slm', bytes: file.bytes }, documents: records.manifests, withModel: false },
      key,
    );
    expect(Object.keys(bundle.files)).not.toContain('child.slm');
    const other = writeSlm(models[1].tensors, { species: models[1].species });
    const v = await openBundle(bundle, [publicJwk(key)]);
    if (!v.ok) throw new Error(v.reason);
    expect((await reproduce(v.bundle, models)).verdict).toBe('reproduced: identical hash');
    const wrong = await openBundle(bundle, [publicJwk(key)], other);
    expect(wrong).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^the model given has sha256 [0-9a-f]{64}, the signed statement says/),
    });
    // Records of another breed are refused before anything is signed.
    await expect(
      makeBundle({ model: { name: 'c.slm', bytes: other }, documents: records.manifests, withModel: true }, key),
    ).rejects.toThrow(/^the candidate manifest is of [0-9a-f]{64}, not of this model/);
  });

  it('a trained candidate (lora-merge) or an operator this garden lacks gets a verdict, not a throw', () => {
    const opened = (id: string) => ({ documents: { lineage: { parents: [], operator: { id, version: '1' } } } }) as unknown as OpenedBundle;
    expect(reproductionPlan(opened('lora-merge'), [])).toEqual({
      ok: false,
      verdict: expect.stringMatching(/^not reproduced: a trained candidate \(lora-merge\)/),
    });
    expect(reproductionPlan(opened('frankenmerge'), [])).toEqual({
      ok: false,
      verdict: 'not reproduced: this garden has no operator "frankenmerge"',
    });
  });

  it('a reproduction that differs names the first differing tensor, or a missing parent', async () => {
    const { models, file, records } = await realBreed();
    const bundle = await makeBundle(
      { model: { name: 'child.slm', bytes: file.bytes }, documents: records.manifests, withModel: false },
      key,
    );
    const v = await openBundle(bundle, [publicJwk(key)]);
    if (!v.ok) throw new Error(v.reason);
    expect((await reproduce(v.bundle, models.slice(1))).verdict).toBe(`not reproduced: missing parent ${models[0].hash}`);
    // As if the signer's kernels had written other numbers for fc2.weight.
    const receipt = {
      ...v.bundle.documents.receipt,
      tensors: v.bundle.documents.receipt.tensors.map((t) => (t.name === 'fc2.weight' ? { ...t, outputHash: '0'.repeat(64) } : t)),
    };
    const differs = { ...v.bundle, candidate: 'f'.repeat(64), documents: { ...v.bundle.documents, receipt } };
    expect((await reproduce(differs, models)).verdict).toBe(
      `not reproduced: candidate hash ${file.hash}, the bundle's ${'f'.repeat(64)}; first differing tensor fc2.weight`,
    );
  });
});
