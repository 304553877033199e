/**
 * Progress and Cancel for reading the user's model files: each file's ByteSource wrapped so that
 * its reads are counted (in slices of at most READ_SLICE bytes, so a large tensor moves the bar
 * as it is read) and stop at the next slice once Cancel is pressed. Reading stores nothing, so a
 * cancelled import leaves nothing behind; storing is one transaction afterwards.
 */
import type { ByteSource } from '../core/format/source.ts';

export const READ_SLICE = 4 << 20;

export class ImportCancelled extends Error {
  override name = 'ImportCancelled';
  constructor() {
    super('the import was cancelled');
  }
}

export interface ReadProgress {
  done: number;
  total: number;
  /** performance.now() when reading began: etaText's start. */
  startedAt: number;
}

export interface ReadTracker {
  /** Wrap one source: its reads count toward the tracker and stop after Cancel. */
  track(src: ByteSource): ByteSource;
  cancel(): void;
  readonly cancelled: boolean;
  /** Count again from zero: the same files read a second time (storing after the check). */
  restart(): void;
  progress(): ReadProgress;
}

/** A tracker over `total` bytes (the files' sizes); `onProgress` hears every slice read. */
export function readTracker(total: number, onProgress: (p: ReadProgress) => void, slice = READ_SLICE): ReadTracker {
  let startedAt = performance.now();
  let done = 0;
  let cancelled = false;
  const progress = () => ({ done: Math.min(done, total), total, startedAt });
  const check = () => {
    if (cancelled) throw new ImportCancelled();
  };
  return {
    cancel: () => void (cancelled = true),
    get cancelled() {
      return cancelled;
    },
    progress,
    restart() {
      done = 0;
      startedAt = performance.now();
    },
    track: (src) => ({
      size: src.size,
      name: src.name,
      async read(offset, length) {
        check();
        if (length <= slice) {
          const b = await src.read(offset, length);
          check();
          done += b.length;
          onProgress(progress());
          return b;
        }
        const out = new Uint8Array(length);
        for (let o = 0; o < length; o += slice) {
          check();
          const b = await src.read(offset + o, Math.min(slice, length - o));
          check();
          out.set(b, o);
          done += b.length;
          onProgress(progress());
        }
        return out;
      },
    }),
  };
}
