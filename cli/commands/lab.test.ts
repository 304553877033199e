import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { DIGITS_PARENTS, oneHotBlendRound, writeTinyDigits } from '../lab-fixture.ts';
import { runGarden } from '../test-run.ts';

let dir = '';
let pins: Record<string, string> = {};
const P = DIGITS_PARENTS;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-lab-'));
  pins = writeTinyDigits(dir);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function round(margin: number, over: Record<string, unknown> = {}): string {
  const r = { ...oneHotBlendRound(pins, { margin }), ...over };
  const path = join(dir, `round-${margin}-${Object.keys(over).join('-')}.json`);
  writeFileSync(path, JSON.stringify(r));
  return path;
}

const garden = runGarden;

describe('garden lab and garden ledger', () => {
  it('an impossible margin gives a no-op that names the numbers', async () => {
    const r = await garden('lab', round(1));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^decision: no-op$/m);
    expect(r.out).toMatch(/no-op: none of 4 candidates is viable; every candidate archived/);
    expect(r.out).toMatch(
      /accuracy on mixed: \d\.\d{4} vs (champion|no-op) digits-\w+ \d\.\d{4}, gain [+−]\d\.\d{4} is below the margin 1\.0000/,
    );
  });

  it('margin 0 promotes the copy of the best parent to shadow and records it in a verifiable ledger', async () => {
    const ledger = join(dir, 'ledger.json');
    const r = await garden('lab', round(0), '--ledger', ledger);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^decision: promote-to-shadow → [0-9a-f]{16}/m);
    expect(r.out).toMatch(/in shadow of slot "digits" \(4 entries\)/);
    const v = await garden('ledger', 'verify', ledger);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^ok: 4 entries, hash chain intact, head [0-9a-f]{64}$/m);
    expect(v.out).toMatch(
      /^signed: every entry by its zone's pinned key \(evaluation [0-9a-f]{16}, policy [0-9a-f]{16}, release [0-9a-f]{16}\)$/m,
    );
    const show = await garden('ledger', 'show', ledger);
    expect(show.out.split('\n').map((l) => l.trim().split(/\s+/)[2])).toEqual(['policy-change', 'release', 'admission', 'release']);
    // show reads admitToShadow's payload: model, candidate, admission hash, gates, policy.
    expect(show.out.split('\n')[2]).toMatch(
      /admission +[0-9a-f]{12} +slot=digits model=[0-9a-f]{16}… candidate=[0-9a-f]{16}… admission=[0-9a-f]{16}… gates=allowlist:passed,evaluation:passed,viability:passed,runtime-smoke:passed,shadow:pending,canary:pending,champion:pending policy=[0-9a-f]{16}…$/,
    );

    // Tamper with entry 2: verify names it and fails.
    const file = JSON.parse(readFileSync(ledger, 'utf8'));
    file.records[2].entry.payload.policyHash = '0'.repeat(64);
    const bad = join(dir, 'ledger-bad.json');
    writeFileSync(bad, JSON.stringify(file));
    const t = await garden('ledger', 'verify', bad);
    expect(t.code).toBe(1);
    expect(t.out).toMatch(/^BROKEN: .*first at index 2/);
    expect(t.out).toMatch(/entry 2 \[hash\]: entry 2 was edited/);
    // And the lab refuses to extend a tampered ledger.
    const l = await garden('lab', round(0), '--ledger', bad);
    expect(l.code).toBe(1);
    expect(l.err).toMatch(/^garden lab: ledger refused: entry 2 was edited/);
  });

  it('refuses a suite whose bytes do not match the policy pin, and unknown keys in the round file', async () => {
    const path = round(0);
    const r = JSON.parse(readFileSync(path, 'utf8'));
    r.policy.suites.test = 'f'.repeat(64);
    writeFileSync(path, JSON.stringify(r));
    const a = await garden('lab', path);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(
      /policy pins suite "test" at ffffffffffffffff…, but catalog suite digits-test hashes to [0-9a-f]{16}…; a frozen suite changes only through a ledgered re-baseline/,
    );
    const b = await garden('lab', round(0, { extra: true }));
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/invalid lab-round manifest: \$: unknown key "extra"/);
    const c = await garden('ledger', 'check', path);
    expect(c.err).toMatch(/unknown subcommand "check"; valid: verify, show/);
  });

  it('--ledger replaces the ledger file whole (temp file + rename), never rewriting it in place', async () => {
    const sub = join(dir, 'atomic');
    mkdirSync(sub);
    const ledger = join(sub, 'ledger.json');
    expect((await garden('lab', round(1), '--ledger', ledger)).code).toBe(0);
    const first = statSync(ledger).ino;
    expect((await garden('lab', round(1), '--ledger', ledger)).code).toBe(0);
    // A new file was renamed over the old one: a crash mid-write would have left the old ledger intact.
    expect(statSync(ledger).ino).not.toBe(first);
    expect(readdirSync(sub).sort()).toEqual(['ledger.json', 'ledger.json.anchor.json', 'ledger.json.keys.json']);
    expect((await garden('ledger', 'verify', ledger)).code).toBe(0);
  });

  it('the same promoting round twice on one ledger: the second admission is refused and the file untouched', async () => {
    const sub = join(dir, 'twice');
    mkdirSync(sub);
    const ledger = join(sub, 'ledger.json');
    expect((await garden('lab', round(0), '--ledger', ledger)).code).toBe(0);
    const before = readFileSync(ledger, 'utf8');
    const again = await garden('lab', round(0), '--ledger', ledger);
    expect(again.code, again.out + again.err).toBe(1);
    expect(again.err).toMatch(/^garden lab: "[0-9a-f]{64}" is already the shadow of slot "digits"; nothing was admitted$/m);
    expect(readFileSync(ledger, 'utf8')).toBe(before);
    expect(readdirSync(sub).sort()).toEqual(['ledger.json', 'ledger.json.anchor.json', 'ledger.json.keys.json']);
  });
});

const STARTER = resolve(__dirname, '../../public/starter/catalog.json');
const EXAMPLE = resolve(__dirname, '../../examples/digits-round.json');

// Not skipped when the starter is missing: npm test builds it before the unit tests, and a test
// run without it fails here and says what to run.
describe('examples/digits-round.json against the built starter catalog', () => {
  it('pins the catalog suites and promotes the TIES merge to shadow', async () => {
    expect(existsSync(STARTER), `${STARTER} is missing: run "npm run starter" first (npm test builds it before the unit tests)`).toBe(true);
    const example = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
    const catalog = JSON.parse(readFileSync(STARTER, 'utf8'));
    const family = catalog.families.find((f: { id: string }) => f.id === example.family);
    for (const [name, id] of Object.entries(example.suites))
      expect(example.policy.suites[name], `pin of ${name}`).toBe(family.suites.find((s: { id: string }) => s.id === id).hash);
    const r = await garden('lab', EXAMPLE);
    expect(r.err).not.toMatch(/^garden lab:/m);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^decision: promote-to-shadow → [0-9a-f]{16}/m);
    expect(r.out).toMatch(/^ {2}viable +ties\(digits-base, digits-rotated, digits-thick, digits-noisy\)/m);
    expect(r.out).toMatch(/^ {2}archived blend\(digits-base, digits-rotated\)/m);
    expect(r.out).toMatch(/^ {2}archived soup\(/m);
    expect(r.out).toMatch(/^ {2}no-op digits-noisy/m);
  }, 60_000);

  it("--out writes each candidate and its documents: the candidate manifest binds the file, the lineage records the policy's ceilings", async () => {
    const out = join(dir, 'out');
    const path = round(1);
    const r = JSON.parse(readFileSync(path, 'utf8'));
    r.policy.ceilings = { maxBytes: 50_000_000 };
    writeFileSync(path, JSON.stringify(r));
    expect((await garden('lab', path, '--out', out)).code).toBe(0);
    const slms = readdirSync(out).filter((f) => f.endsWith('.slm'));
    expect(slms).toHaveLength(P.length);
    for (const f of slms) {
      const id = f.slice(0, -'.slm'.length);
      const [compat, lineage, receipt, candidate] = JSON.parse(readFileSync(join(out, `${id}.manifests.json`), 'utf8'));
      expect([compat.kind, lineage.kind, receipt.kind, candidate.kind]).toEqual([
        'compatibility-report',
        'lineage-template',
        'operator-receipt',
        'candidate-manifest',
      ]);
      expect(
        createHash('sha256')
          .update(readFileSync(join(out, f)))
          .digest('hex'),
      ).toBe(id);
      expect(candidate.candidate).toBe(id);
      expect(receipt.output).toBe(id);
      expect(lineage.budget).toEqual({ maxBytes: 50_000_000 });
    }
  });
});
