/**
 * An arena: one shared WebAssembly.Memory that a CpuPool's threads all see, from which tensors
 * are allocated as Float32Array views. The SIMD loops (simd.ts) then read and write them in
 * place, with no copy through a private scratch memory.
 *
 * First-fit allocation over a free list, blocks aligned to 64 bytes (a cache line), coalesced on
 * free; the memory grows (never shrinks) when no free block fits. Growing a shared memory never
 * detaches its buffer: views made before a grow stay valid (on the old, shorter buffer object).
 */
const PAGE = 65536;
const ALIGN = 64;
/** 4 GiB: the whole wasm32 address space (virtual; pages are only committed as they are touched). */
const MAX_PAGES = 65536;
/**
 * Each allocation starts at a rotating address modulo 4 KiB (0, 256, …, 3840: its block holds up
 * to 4 KiB more for it), so arrays allocated one after another never sit at the same address
 * modulo 4 KiB. There, one stream's loads alias
 * another's stores (4K aliasing) and the set-associative caches conflict: with every 256 MB array
 * at one offset, a copy ran at 0.62 ns/element on one thread and TIES's apply at 4.4, against 0.32
 * and 1.9 with the arrays shifted (helper 78's measurement, 64 M elements).
 */
const STAGGER_BYTES = 256;
const STAGGERS = 16;
const PAGE_4K = 4096;

export class Arena {
  readonly memory: WebAssembly.Memory;
  /** Every buffer object the memory has had (one per size): arrays on any of them are in the arena. */
  private readonly buffers = new Set<ArrayBufferLike>();
  /** Each live array's byte offset → its block (start and bytes; the array starts a few bytes in, at its colour modulo 4 KiB). */
  private readonly used = new Map<number, { start: number; bytes: number }>();
  private allocations = 0;
  /** Free blocks [offset, bytes], sorted by offset, never adjacent (coalesced). */
  private holes: [number, number][] = [];
  /** End of the allocated region; everything above it is free. */
  private top = ALIGN;
  private peak = 0;
  private live = 0;

  constructor(memory?: WebAssembly.Memory) {
    this.memory = memory ?? new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.buffers.add(this.memory.buffer);
  }

  /** A new arena, or null where shared WebAssembly memory is unavailable (not cross-origin isolated). */
  static tryCreate(): Arena | null {
    try {
      if (typeof WebAssembly === 'undefined' || typeof SharedArrayBuffer === 'undefined') return null;
      return new Arena();
    } catch {
      return null;
    }
  }

  /** Whether `a` lives in this arena (so the SIMD loops can work on it in place). */
  has(a: Float32Array): boolean {
    if (this.buffers.has(a.buffer)) return true;
    // The memory's buffer object can change without a grow here (V8 may hand out a fresh one for a shared memory).
    const now = this.memory.buffer;
    if (a.buffer !== now) return false;
    this.buffers.add(now);
    return true;
  }

  /**
   * n float32 in the arena, zero-filled unless `zero` is false (for an array the caller overwrites
   * whole at once: the fill would be a wasted pass over memory). Free it with free() when done.
   */
  alloc(n: number, zero = true): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new Error(`arena: cannot allocate ${n} elements`);
    const colour = STAGGER_BYTES * (this.allocations++ % STAGGERS);
    const bytes = Math.max(ALIGN, Math.ceil((4 * n) / ALIGN) * ALIGN) + PAGE_4K - ALIGN;
    let at = -1;
    for (let i = 0; i < this.holes.length; i++) {
      const [off, size] = this.holes[i];
      if (size < bytes) continue;
      at = off;
      if (size === bytes) this.holes.splice(i, 1);
      else this.holes[i] = [off + bytes, size - bytes];
      break;
    }
    if (at < 0) {
      at = this.top;
      const end = at + bytes;
      if (end > MAX_PAGES * PAGE) throw new Error(`arena: out of memory (${end} bytes would exceed the 4 GiB wasm32 address space)`);
      const have = this.memory.buffer.byteLength;
      if (end > have) {
        // Grow by at least an eighth of the current size, so many small allocations do not grow page by page.
        const want = Math.max(Math.ceil((end - have) / PAGE), Math.ceil(have / PAGE / 8));
        this.memory.grow(Math.min(want, MAX_PAGES - have / PAGE));
        this.buffers.add(this.memory.buffer);
      }
      this.top = end;
    }
    const stagger = (((colour - at) % PAGE_4K) + PAGE_4K) % PAGE_4K;
    this.used.set(at + stagger, { start: at, bytes });
    this.live += bytes;
    this.peak = Math.max(this.peak, this.live);
    const view = new Float32Array(this.memory.buffer, at + stagger, n);
    if (zero) view.fill(0);
    return view;
  }

  /** `n` bytes in the arena, not zero-filled (for a read that fills them); free them with freeBytes(). */
  bytes(n: number): Uint8Array {
    const f = this.alloc(Math.ceil(n / 4), false);
    return new Uint8Array(f.buffer, f.byteOffset, n);
  }

  /** Return bytes from bytes() to the arena. */
  freeBytes(b: Uint8Array): void {
    this.free(new Float32Array(b.buffer, b.byteOffset, 0));
  }

  /** Return an array from alloc() to the arena. Its memory is reused: do not touch it afterwards. */
  free(a: Float32Array): void {
    const block = this.used.get(a.byteOffset);
    if (block === undefined || !this.has(a)) throw new Error(`arena: free of an array it did not allocate (offset ${a.byteOffset})`);
    this.used.delete(a.byteOffset);
    this.live -= block.bytes;
    let off = block.start;
    let size = block.bytes;
    // Insert sorted, coalescing with neighbours; a block that reaches the top lowers it.
    let i = 0;
    while (i < this.holes.length && this.holes[i][0] < off) i++;
    if (i > 0 && this.holes[i - 1][0] + this.holes[i - 1][1] === off) {
      i--;
      off = this.holes[i][0];
      size += this.holes[i][1];
      this.holes.splice(i, 1);
    }
    if (i < this.holes.length && off + size === this.holes[i][0]) {
      size += this.holes[i][1];
      this.holes.splice(i, 1);
    }
    if (off + size === this.top) this.top = off;
    else this.holes.splice(i, 0, [off, size]);
  }

  /** Bytes allocated now, at most so far, and the memory's size. */
  stats(): { live: number; peak: number; reserved: number } {
    return { live: this.live, peak: this.peak, reserved: this.memory.buffer.byteLength };
  }
}
