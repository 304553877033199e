// The job protocol of the threaded wasm-SIMD matvec (simd-matvec.ts), plain JavaScript so the
// calling thread and the Node workers (matvec-worker.mjs, no TypeScript loader) run the same code.
//
// A control block of Int32 words in the shared memory: SEQ (the job number, STOP to quit), NEXT
// (the claim word: job tag << 16 | next item, CLOSED between jobs), COMPLETED (items finished),
// TOTAL, NOPS, CHUNKS (items an op), then up to MAX_OPS ops of OP_INTS words:
// [fn (0 f32mv, 1 i8mv, 2 i4mv), w, w bytes a row, s, s bytes a row, x, y, N, a, b].
// Item i is rows [N·c/CHUNKS, N·(c+1)/CHUNKS) of op ⌊i / CHUNKS⌋ (c = i mod CHUNKS): each row is
// computed exactly as the one-thread call computes it, so a split changes no bit.
export const SEQ = 0;
export const NEXT = 1;
export const COMPLETED = 2;
export const TOTAL = 3;
export const NOPS = 4;
export const CHUNKS = 5;
export const OPS = 8;
export const OP_INTS = 10;
export const MAX_OPS = 4;
export const CTRL_BYTES = 4 * (OPS + OP_INTS * MAX_OPS);
export const STOP = -1;
export const CLOSED = -1;
export const FN_NAMES = ['f32mv', 'i8mv', 'i4mv'];

/** Rows [r0, r1) of one op: f32mv(w, x, y, n, a) or i8mv / i4mv(w, s, x, y, n, a, b). */
export function runRows(fns, fn, w, ws, s, ss, x, y, r0, r1, a, b) {
  if (r1 <= r0) return;
  if (fn === 0) fns[0](w + r0 * ws, x, y + 4 * r0, r1 - r0, a);
  else fns[fn](w + r0 * ws, s + r0 * ss, x, y + 4 * r0, r1 - r0, a, b);
}

function runItem(ctrl, fns, idx) {
  const chunks = ctrl[CHUNKS];
  const o = OPS + OP_INTS * Math.floor(idx / chunks);
  const c = idx % chunks;
  const N = ctrl[o + 7];
  const u = (k) => ctrl[o + k] >>> 0;
  runRows(
    fns,
    ctrl[o],
    u(1),
    u(2),
    u(3),
    u(4),
    u(5),
    u(6),
    Math.floor((N * c) / chunks),
    Math.floor((N * (c + 1)) / chunks),
    ctrl[o + 8],
    ctrl[o + 9],
  );
}

/** Claims and runs items of job `seq` until none is left; returns how many this thread ran. */
export function work(ctrl, fns, seq) {
  const tag = seq & 0x7fff;
  let done = 0;
  for (;;) {
    const v = Atomics.load(ctrl, NEXT);
    if (v >>> 16 !== tag) break;
    const idx = v & 0xffff;
    if (idx >= Atomics.load(ctrl, TOTAL)) break;
    if (Atomics.compareExchange(ctrl, NEXT, v, v + 1) !== v) continue;
    runItem(ctrl, fns, idx);
    done++;
  }
  return done;
}

/** A worker's loop: wait for each new job (a short spin, then Atomics.wait), work on it, report; until STOP. */
export function serve(ctrl, fns, spin = 4000) {
  // SEQ is 0 until the first job (not read here: that job may already be published).
  let seen = 0;
  for (;;) {
    for (let i = 0; i < spin && Atomics.load(ctrl, SEQ) === seen; i++);
    Atomics.wait(ctrl, SEQ, seen);
    const seq = Atomics.load(ctrl, SEQ);
    if (seq === STOP) return;
    seen = seq;
    const done = work(ctrl, fns, seq);
    if (done) {
      Atomics.add(ctrl, COMPLETED, done);
      Atomics.notify(ctrl, COMPLETED);
    }
  }
}
