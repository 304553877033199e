import { describe, expect, it } from 'vitest';
import { bytesSource } from '../core/format/source.ts';
import { ImportCancelled, readTracker } from './import-progress.ts';

const READ_SLICE = 16;

describe('readTracker', () => {
  const data = new Uint8Array(READ_SLICE * 2 + 5).map((_, i) => i % 251);

  it('counts every byte read, a large read in slices, and returns the same bytes', async () => {
    const seen: number[] = [];
    const t = readTracker(data.length + 10, (p) => seen.push(p.done), READ_SLICE);
    const src = t.track(bytesSource(data, 'big.safetensors'));
    expect(src.size).toBe(data.length);
    expect(src.name).toBe('big.safetensors');
    const head = await src.read(0, 10);
    const all = await src.read(0, data.length);
    expect([...head]).toEqual([...data.subarray(0, 10)]);
    expect(all).toEqual(data);
    expect(seen).toEqual([10, 10 + READ_SLICE, 10 + 2 * READ_SLICE, 10 + data.length]);
    expect(t.progress()).toMatchObject({ done: data.length + 10, total: data.length + 10 });
  });

  it('stops at the next slice once cancelled, and refuses reads after', async () => {
    let reads = 0;
    const inner = bytesSource(data);
    const counted = { size: inner.size, read: (o: number, n: number) => (reads++, inner.read(o, n)) };
    const t = readTracker(
      data.length,
      (p) => {
        if (p.done >= READ_SLICE) t.cancel();
      },
      READ_SLICE,
    );
    const src = t.track(counted);
    await expect(src.read(0, data.length)).rejects.toBeInstanceOf(ImportCancelled);
    expect(reads).toBe(1);
    expect(t.cancelled).toBe(true);
    await expect(src.read(0, 4)).rejects.toThrow('the import was cancelled');
    expect(reads).toBe(1);
  });
});
