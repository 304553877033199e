import { describe, expect, it } from 'vitest';
import { admitToShadow } from './admission.ts';
import { ReleaseController } from './release.ts';
import { CONTRACT, H, memoryLedger } from './test-helpers.ts';
import { makeManifest, manifestHash } from '../manifest/index.ts';
import type { Gate } from '../manifest/kinds.ts';

const CAND = H('c');

function docs(over: { candidate?: string; slot?: string; gates?: Gate[] } = {}) {
  const promotionTemplate = makeManifest('promotion-template', {
    candidate: over.candidate ?? CAND,
    slot: over.slot ?? 's',
    gates: over.gates ?? [
      { id: 'viability', status: 'passed' },
      { id: 'runtime-smoke', status: 'pending' },
      { id: 'shadow', status: 'pending' },
    ],
  });
  const admission = makeManifest('admission-record', {
    candidate: CAND,
    slot: 's',
    promotionTemplate: manifestHash(promotionTemplate),
    sidecars: [H('e')],
    admittedAt: '2025-01-01T00:00:00.000Z',
  });
  return { admission, promotionTemplate };
}

async function slot() {
  const { ledger, store } = await memoryLedger();
  const release = ReleaseController.open(ledger);
  await release.createSlot('s', CONTRACT, 'A', ['B']);
  return { ledger, release, store };
}

describe('admitToShadow', () => {
  it('appends one admission entry with the documented payload, then the shadow release', async () => {
    const z = await slot();
    const d = docs();
    const r = await admitToShadow(z, { slot: 's', model: 'cand-1', candidate: CAND, ...d, policyHash: H('f') });
    expect(z.ledger.entries().map((e) => [e.type, e.payload.action ?? null])).toEqual([
      ['release', 'create'],
      ['admission', null],
      ['release', 'shadow'],
    ]);
    expect(r.entry.payload).toEqual({
      slot: 's',
      model: 'cand-1',
      candidate: CAND,
      admission: d.admission,
      admissionHash: manifestHash(d.admission),
      promotionTemplate: d.promotionTemplate,
      policyHash: H('f'),
    });
    expect(r.admissionHash).toBe(manifestHash(d.admission));
    expect(r.registry).toMatchObject({ champion: 'A', shadow: 'cand-1' });
    expect(z.ledger.entries()[2].payload.evidence).toEqual({ admission: r.admissionHash });
    // policyHash is optional: recorded as null.
    const z2 = await slot();
    expect((await admitToShadow(z2, { slot: 's', model: 'cand-1', candidate: CAND, ...d })).entry.payload.policyHash).toBeNull();
  });

  it('checks every precondition before writing anything', async () => {
    const z = await slot();
    const d = docs();
    const before = z.ledger.length;
    const refuse = async (input: Parameters<typeof admitToShadow>[1], msg: RegExp) => {
      await expect(admitToShadow(z, input)).rejects.toThrow(msg);
      expect(z.ledger.length).toBe(before);
    };
    await refuse({ slot: 'nope', model: 'm', candidate: CAND, ...d }, /no task slot "nope"; slots: s/);
    await refuse({ slot: 's', model: 'A', candidate: CAND, ...d }, /"A" is already the champion of slot "s"/);
    await refuse(
      { slot: 's', model: 'm', candidate: H('d'), ...d },
      /the admission record is for candidate cccccccccccccccc…, not dddddddddddddddd…/,
    );
    const other = docs({ gates: [{ id: 'viability', status: 'passed' }] });
    await refuse(
      { slot: 's', model: 'm', candidate: CAND, admission: d.admission, promotionTemplate: other.promotionTemplate },
      /the admission record binds promotion template [0-9a-f]{16}…, but the template given hashes to [0-9a-f]{16}…/,
    );
    const failed = docs({
      gates: [
        { id: 'runtime-smoke', status: 'failed', detail: 'finite: output 3 is NaN' },
        { id: 'shadow', status: 'pending' },
      ],
    });
    await refuse({ slot: 's', model: 'm', candidate: CAND, ...failed }, /gate runtime-smoke \(finite: output 3 is NaN\) failed/);
    await refuse(
      { slot: 's', model: 'm', candidate: CAND, admission: { ...d.admission, extra: 1 } as never, promotionTemplate: d.promotionTemplate },
      /invalid admission-record manifest: \$: unknown key "extra"/,
    );

    // Already in shadow (or canary): refused, nothing written.
    await admitToShadow(z, { slot: 's', model: 'm', candidate: CAND, ...d });
    const n = z.ledger.length;
    await expect(admitToShadow(z, { slot: 's', model: 'm', candidate: CAND, ...d })).rejects.toThrow(
      /"m" is already the shadow of slot "s"; nothing was admitted/,
    );
    await z.release.toCanary('s', 0.1, 'canary');
    await expect(admitToShadow(z, { slot: 's', model: 'm', candidate: CAND, ...d })).rejects.toThrow(
      /"m" is already the canary of slot "s"/,
    );
    expect(z.ledger.length).toBe(n + 1);
  });

  it('an overlapping admission and promotion are checked against the registry the other left', async () => {
    const z = await slot();
    const d = docs();
    // Two clicks on Admit at once: exactly one admission is recorded.
    const results = await Promise.allSettled([
      admitToShadow(z, { slot: 's', model: 'm', candidate: CAND, ...d }),
      admitToShadow(z, { slot: 's', model: 'm', candidate: CAND, ...d }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(z.ledger.entries().filter((e) => e.type === 'admission')).toHaveLength(1);
    expect(z.release.versions('s').map((v) => v.version)).toEqual([1, 2]);
  });

  it('a failed store write (quota) leaves neither entry and the registry as it was; a retry admits', async () => {
    const z = await slot();
    const d = docs();
    let fail = true;
    const write = z.store.appendAll.bind(z.store);
    z.store.appendAll = async (records) => {
      expect(records.map((r) => r.entry.type)).toEqual(['admission', 'release']);
      if (fail) throw new Error('storage quota exceeded');
      return write(records);
    };
    await expect(admitToShadow(z, { slot: 's', model: 'm', candidate: CAND, ...d })).rejects.toThrow(/quota/);
    expect(z.ledger.length).toBe(1);
    expect((await z.store.load()).length).toBe(1);
    expect(z.release.current('s').shadow).toBeNull();
    fail = false;
    const r = await admitToShadow(z, { slot: 's', model: 'm', candidate: CAND, ...d });
    expect(r.entry.index).toBe(1);
    expect(z.release.current('s')).toMatchObject({ shadow: 'm', version: 2 });
    expect(z.ledger.verify().ok).toBe(true);
  });
});
