// The few host globals src/core may use. Both browsers (window and workers) and Node >= 20 provide
// them; declaring them here keeps DOM and Node typings out of the core (see tsconfig.core.json).
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: ArrayBufferView | ArrayBuffer): string;
}
declare function queueMicrotask(cb: () => void): void;
declare const performance: { now(): number };
declare function setTimeout(cb: () => void, ms?: number): unknown;
declare const console: { log(...a: unknown[]): void; warn(...a: unknown[]): void; error(...a: unknown[]): void };
