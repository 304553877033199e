import { describe, expect, it } from 'vitest';
import { choosePhenotype, expressPhenotype, phenotypeSlot, slotPool } from './phenotypes.ts';
import { ReleaseController } from './release.ts';
import { CONTRACT, memoryLedger } from './test-helpers.ts';

const MB = 1024 * 1024;
const sizes = { f32: 200 * MB, f16: 100 * MB, int4: 12 * MB, other: 1 * MB };
const accuracy = { f32: 0.91, f16: 0.91, int4: 0.88, other: 0.5 };

async function setup() {
  const { ledger } = await memoryLedger();
  const release = ReleaseController.open(ledger);
  await release.createSlot('digits', CONTRACT, 'f32', ['f16']);
  await release.toShadow('digits', 'int4', 'quantized allele in shadow');
  return { ledger, release };
}

describe('phenotypes', () => {
  it('one pool, several expressions: the phone routes to the int4 allele, the laptop to f16, each ledgered', async () => {
    const { ledger, release } = await setup();
    const pool = slotPool(release, 'digits');
    expect(pool).toEqual(['f16', 'f32', 'int4']);
    expect(choosePhenotype(pool, 'default', sizes, accuracy)).toBe('f16');
    expect(choosePhenotype(pool, 'phone', sizes, accuracy)).toBe('int4');
    expect(choosePhenotype(pool, 'low-memory-laptop', sizes, accuracy)).toBe('int4');
    const phone = await expressPhenotype(release, 'digits', 'phone', { champion: 'int4' }, sizes, 'fits in 16 MiB');
    expect(phone).toMatchObject({ slot: 'digits@phone', champion: 'int4', contract: CONTRACT });
    expect(release.current('digits').champion).toBe('f32');
    const last = ledger.entries()[ledger.length - 1];
    expect(last.payload).toMatchObject({
      slot: 'digits@phone',
      action: 'create',
      reason: 'phenotype of "digits" for phone: fits in 16 MiB',
    });
    expect(ledger.verify().ok).toBe(true);
  });

  it("refuses a model outside the pool or over the profile's budget, and unknown profiles", async () => {
    const { release } = await setup();
    await expect(expressPhenotype(release, 'digits', 'phone', { champion: 'other' }, sizes, 'x')).rejects.toThrow(
      '"other" is not in the pool of slot "digits"',
    );
    await expect(expressPhenotype(release, 'digits', 'phone', { champion: 'f16' }, sizes, 'x')).rejects.toThrow(
      `"f16" is ${100 * MB} bytes; profile phone holds at most ${16 * MB}`,
    );
    expect(() => phenotypeSlot('digits', 'watch')).toThrow('unknown device profile "watch"; valid: default, low-memory-laptop, phone');
    expect(choosePhenotype(['f32'], 'phone', sizes, accuracy)).toBeNull();
  });
});
