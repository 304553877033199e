/**
 * The drawing pad for a digit, shared by "Ask the garden" and "Train on your own digits": a black
 * canvas drawn in white with a pointer, or with the keyboard (arrow keys move the pen, Space puts
 * it down or lifts it, Backspace clears). `gray()` gives the grayscale pixels that
 * src/core/image28.ts turns into the model's 28×28 input.
 */
import { useEffect, useRef, useState, type RefObject } from 'react';

export const PAD_SIZE = 280;
const STEP = 14;

export interface DrawPadHandle {
  clear(): void;
  /** Grayscale pixels (0 = background, 255 = ink), PAD_SIZE × PAD_SIZE, row-major. */
  gray(): Uint8ClampedArray;
}

export function DrawPad({ padRef, testId, label }: { padRef: RefObject<DrawPadHandle | null>; testId: string; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const [pen, setPen] = useState<{ x: number; y: number; down: boolean; shown: boolean }>({
    x: PAD_SIZE / 2,
    y: PAD_SIZE / 2,
    down: false,
    shown: false,
  });

  function ctx() {
    return canvas.current!.getContext('2d', { willReadFrequently: true })!;
  }
  function clear() {
    const c = ctx();
    c.fillStyle = '#000';
    c.fillRect(0, 0, PAD_SIZE, PAD_SIZE);
  }
  useEffect(() => {
    clear();
    padRef.current = {
      clear,
      gray() {
        const img = ctx().getImageData(0, 0, PAD_SIZE, PAD_SIZE);
        const gray = new Uint8ClampedArray(PAD_SIZE * PAD_SIZE);
        for (let i = 0; i < gray.length; i++) gray[i] = img.data[4 * i];
        return gray;
      },
    };
  }, []);

  function start(x: number, y: number) {
    const c = ctx();
    c.strokeStyle = '#fff';
    c.lineWidth = 22;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.beginPath();
    c.moveTo(x, y);
    c.lineTo(x + 0.1, y + 0.1);
    c.stroke();
  }
  function lineTo(x: number, y: number) {
    const c = ctx();
    c.lineTo(x, y);
    c.stroke();
  }
  function at(e: React.PointerEvent) {
    const r = canvas.current!.getBoundingClientRect();
    return [((e.clientX - r.left) * PAD_SIZE) / r.width, ((e.clientY - r.top) * PAD_SIZE) / r.height] as const;
  }
  function down(e: React.PointerEvent) {
    drawing.current = true;
    canvas.current!.setPointerCapture?.(e.pointerId);
    start(...at(e));
  }
  function move(e: React.PointerEvent) {
    if (drawing.current) lineTo(...at(e));
  }
  function key(e: React.KeyboardEvent) {
    const d = e.shiftKey ? STEP * 3 : STEP;
    const moves: Record<string, [number, number]> = { ArrowUp: [0, -d], ArrowDown: [0, d], ArrowLeft: [-d, 0], ArrowRight: [d, 0] };
    const clamp = (v: number) => Math.max(0, Math.min(PAD_SIZE, v));
    if (moves[e.key]) {
      e.preventDefault();
      const x = clamp(pen.x + moves[e.key][0]);
      const y = clamp(pen.y + moves[e.key][1]);
      if (pen.down) lineTo(x, y);
      setPen({ ...pen, x, y, shown: true });
    } else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      if (!pen.down) start(pen.x, pen.y);
      setPen({ ...pen, down: !pen.down, shown: true });
    } else if (e.key === 'Backspace' || e.key === 'Delete') {
      e.preventDefault();
      clear();
      setPen({ ...pen, down: false });
    }
  }
  return (
    <div className="pad-wrap">
      <canvas
        ref={canvas}
        width={PAD_SIZE}
        height={PAD_SIZE}
        className="pad"
        data-testid={testId}
        aria-label={`${label}. Keyboard: arrow keys move the pen, Space puts it down or lifts it, Backspace clears`}
        tabIndex={0}
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={() => (drawing.current = false)}
        onPointerLeave={() => (drawing.current = false)}
        onKeyDown={key}
        onFocus={() => setPen((p) => ({ ...p, shown: true }))}
        onBlur={() => setPen((p) => ({ ...p, shown: false }))}
      />
      {pen.shown && (
        <span
          className={pen.down ? 'pad-pen down' : 'pad-pen'}
          style={{ left: `${(pen.x / PAD_SIZE) * 100}%`, top: `${(pen.y / PAD_SIZE) * 100}%` }}
          aria-hidden="true"
        />
      )}
    </div>
  );
}
