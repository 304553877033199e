/**
 * The training engine's reverse-mode autograd: a tape of values (2-D, row-major) and the backward
 * closures that produced them. Every value is a flat typed array; a tape is either f32 (training)
 * or f64 (gradient checks against central finite differences), and every op allocates through
 * `tape.alloc` so one op body serves both. Sums inside an op run in JS doubles in a fixed order,
 * so a run is deterministic: same inputs and seed, same bytes.
 *
 * The ops live beside it: ops.ts (matmul, add, bias, elementwise, dropout), ops-llm.ts (RMSNorm,
 * RoPE, causal attention, embedding gather) and loss.ts (softmax cross-entropy).
 */

export const PRECISIONS = Object.freeze(['f32', 'f64'] as const);
export type Precision = (typeof PRECISIONS)[number];
export type Buf = Float32Array | Float64Array;

/** One value on the tape: data [rows, cols], and its gradient once backward has reached it. */
export class Value {
  grad: Buf | null = null;
  constructor(
    readonly tape: Tape,
    readonly data: Buf,
    readonly rows: number,
    readonly cols: number,
    readonly requiresGrad: boolean,
    readonly label = '',
  ) {
    if (data.length !== rows * cols) throw new Error(`value "${label}": ${data.length} numbers for [${rows}, ${cols}]`);
  }

  get size(): number {
    return this.data.length;
  }

  /** The gradient buffer, allocated (zeros) on first use. */
  gradBuf(): Buf {
    if (!this.grad) this.grad = this.tape.alloc(this.data.length);
    return this.grad;
  }
}

export class Tape {
  private readonly steps: { out: Value; backward: () => void }[] = [];

  constructor(readonly precision: Precision = 'f32') {
    if (!PRECISIONS.includes(precision)) throw new Error(`unknown precision "${String(precision)}"; valid: ${PRECISIONS.join(', ')}`);
  }

  alloc(n: number): Buf {
    return this.precision === 'f64' ? new Float64Array(n) : new Float32Array(n);
  }

  /** A leaf: a parameter (requiresGrad) or an input. The data is copied into this tape's precision. */
  leaf(data: ArrayLike<number>, rows: number, cols: number, requiresGrad: boolean, label = ''): Value {
    const buf = this.alloc(data.length);
    buf.set(data);
    return new Value(this, buf, rows, cols, requiresGrad, label);
  }

  /** A leaf over an existing buffer of this tape's precision (no copy): the optimizer updates it in place. */
  param(data: Buf, rows: number, cols: number, label = ''): Value {
    if ((this.precision === 'f64') !== data instanceof Float64Array)
      throw new Error(`parameter "${label}" is not a ${this.precision} buffer`);
    return new Value(this, data, rows, cols, true, label);
  }

  /** A frozen buffer of this tape's precision (no copy, no gradient): a base weight. */
  constant(data: Buf, rows: number, cols: number, label = ''): Value {
    if ((this.precision === 'f64') !== data instanceof Float64Array)
      throw new Error(`constant "${label}" is not a ${this.precision} buffer`);
    return new Value(this, data, rows, cols, false, label);
  }

  /**
   * The result of an op. `backward` reads out.grad and adds into its inputs' gradBuf(); it is
   * recorded only when some input needs a gradient.
   */
  result(data: Buf, rows: number, cols: number, inputs: readonly Value[], backward: (out: Value) => void, label = ''): Value {
    const requiresGrad = inputs.some((v) => v.requiresGrad);
    const out = new Value(this, data, rows, cols, requiresGrad, label);
    if (requiresGrad) this.steps.push({ out, backward: () => backward(out) });
    return out;
  }

  /** Reverse pass from a scalar: d loss / d loss = 1, then every recorded step in reverse order. */
  backward(loss: Value): void {
    if (loss.size !== 1) throw new Error(`backward needs a scalar loss, got [${loss.rows}, ${loss.cols}]`);
    if (loss.tape !== this) throw new Error('backward: the loss belongs to another tape');
    loss.gradBuf()[0] = 1;
    for (let i = this.steps.length - 1; i >= 0; i--) {
      const s = this.steps[i];
      if (s.out.grad) s.backward();
    }
  }

  /** Steps recorded so far (a tape is used for one forward/backward and then dropped). */
  get length(): number {
    return this.steps.length;
  }
}

/** Refuse an op whose inputs live on different tapes or have the wrong shape. */
export function sameTape(op: string, ...vs: Value[]): Tape {
  const t = vs[0].tape;
  for (const v of vs) if (v.tape !== t) throw new Error(`${op}: inputs belong to different tapes`);
  return t;
}

export function shapeError(op: string, what: string): Error {
  return new Error(`${op}: ${what}`);
}
