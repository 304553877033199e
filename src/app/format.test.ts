import { describe, expect, it } from 'vitest';
import { duration, etaSeconds, etaText } from './format.ts';

describe('ETA', () => {
  it('extrapolates the rate so far, and says nothing before there is one', () => {
    expect(etaSeconds(0, 100, 5000)).toBeNull();
    expect(etaSeconds(25, 100, 5000)).toBe(15);
    expect(etaText(undefined, 5, 10)).toBe('');
    expect(etaText(1000, 0, 10, 3000)).toBe('');
    expect(etaText(1000, 250, 1000, 3000)).toBe(' · about 6.0 s left');
    expect(etaText(0, 1, 3, 60_000)).toBe(' · about 2 min 0 s left');
  });
  it('waits for 2 % of the work before it extrapolates (a first tiny tensor after the setup is no rate)', () => {
    // The stop-30 symptom: 256 B of 398 KiB after 2 s of setup read as "about 52 min left".
    expect(etaSeconds(256, 398 * 1024, 2000)).toBeNull();
    expect(etaSeconds(19, 1000, 2000)).toBeNull();
    expect(etaSeconds(20, 1000, 2000)).toBe(98);
  });
  it('writes durations', () => {
    expect(duration(4.25)).toBe('4.3 s');
    expect(duration(185)).toBe('3 min 5 s');
  });
});
