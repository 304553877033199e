/**
 * A few WebAssembly binary-format helpers for the hand-assembled SIMD modules (simd.ts,
 * simd-elementwise.ts): LEB128, sections, names, value types and the common instructions.
 */
export const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
export const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
export const name = (s: string) => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

export const I32 = 0x7f,
  F32 = 0x7d,
  V128 = 0x7b;
export const get = (i: number) => [0x20, i];
export const set = (i: number) => [0x21, i];
export const SIMD = (op: number) => [0xfd, ...leb(op)];
export const v128load = [...SIMD(0x00), 4, 0];
export const v128store = [...SIMD(0x0b), 4, 0];
