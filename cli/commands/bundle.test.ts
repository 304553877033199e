import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGarden } from '../test-run.ts';
import { speciesId, speciesSignature, writeSlm } from '../../src/core/format/slm.ts';
import { randomModel } from '../../src/core/operators/test-data.ts';
import { fromBase64 } from '../../src/core/share/dsse.ts';
import { bredCandidate } from './bundle-test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'garden-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('garden bundle and garden key', () => {
  it('creates the key on first use (owner-only), signs, and reuses the key the second time', async () => {
    const { slm } = await bredCandidate(dir);
    const key = join(dir, 'me.jwk');
    expect(existsSync(key)).toBe(false);
    const r = await runGarden('bundle', slm, '--key', key, '--out', join(dir, 'b.json'), '--with-model');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^created key .*me\.jwk \(kid [0-9a-f]{16}\)$/);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const kid = /kid ([0-9a-f]{16})/.exec(r.err)![1];
    expect(r.out).toMatch(new RegExp(`signed by key ${kid}$`));
    const bundle = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8')) as {
      envelope: { payloadType: string; payload: string };
      files: Record<string, string>;
    };
    expect(bundle.envelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(Object.keys(bundle.files).sort()).toEqual([
      'candidate-manifest.json',
      'child.slm',
      'compatibility-report.json',
      'lineage-template.json',
      'operator-receipt.json',
    ]);
    expect(fromBase64(bundle.files['child.slm'])).toEqual(new Uint8Array(readFileSync(slm)));

    const again = await runGarden('bundle', slm, '--key', key, '--out', join(dir, 'b2.json'));
    expect(again.code, again.err).toBe(0);
    expect(again.err).toBe('');
    expect(again.out).toContain(`signed by key ${kid}`);
    expect(Object.keys((JSON.parse(readFileSync(join(dir, 'b2.json'), 'utf8')) as typeof bundle).files)).not.toContain('child.slm');

    const pub = await runGarden('key', key, '--public');
    expect(pub.code).toBe(0);
    const jwk = JSON.parse(pub.out) as Record<string, string>;
    expect(Object.keys(jwk).sort()).toEqual(['crv', 'kid', 'kty', 'x', 'y']);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid });
  });

  it("refuses records that are not this model's, and a missing records file, writing nothing", async () => {
    const other = join(dir, 'other');
    const { records } = await bredCandidate(other);
    const tensors = randomModel(5);
    const stranger = join(dir, 'stranger.slm');
    writeFileSync(stranger, writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', ['a'])), graph: '', vocabulary: ['a'] }));
    const r = await runGarden('bundle', stranger, '--key', join(dir, 'me.jwk'), '--out', join(dir, 'bad.json'), '--records', records);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^garden bundle: .*stranger\.slm: the candidate manifest is of [0-9a-f]{64}, not of this model/);
    expect(existsSync(join(dir, 'bad.json'))).toBe(false);
    const none = await runGarden('bundle', stranger, '--key', join(dir, 'me.jwk'), '--out', join(dir, 'bad.json'));
    expect(none.err).toMatch(/no breed records for .*: give --records BREED\.json/);
  });
});
