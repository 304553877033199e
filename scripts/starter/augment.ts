/**
 * Image conditions for the digit specialists and suites, on 28×28 images with values in [0, 1].
 * Every function is deterministic given its arguments (randomness comes from a passed Rng).
 */
import type { Rng } from './rng.ts';

const S = 28;
const C = (S - 1) / 2;

/** Rotate by `deg` degrees about the centre (bilinear sampling, zero outside). */
export function rotate(img: Float32Array, deg: number): Float32Array {
  const out = new Float32Array(S * S);
  const r = (deg * Math.PI) / 180;
  const cos = Math.cos(r);
  const sin = Math.sin(r);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const dx = x - C;
      const dy = y - C;
      const sx = cos * dx + sin * dy + C;
      const sy = -sin * dx + cos * dy + C;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      let v = 0;
      for (let j = 0; j < 2; j++) {
        for (let i = 0; i < 2; i++) {
          const px = x0 + i;
          const py = y0 + j;
          if (px < 0 || py < 0 || px >= S || py >= S) continue;
          v += img[py * S + px] * (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
        }
      }
      out[y * S + x] = v;
    }
  }
  return out;
}

/** Grayscale dilation with a 3×3 square: strokes get about two pixels thicker. */
export function thicken(img: Float32Array): Float32Array {
  const out = new Float32Array(S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let m = 0;
      for (let j = -1; j <= 1; j++) {
        for (let i = -1; i <= 1; i++) {
          const px = x + i;
          const py = y + j;
          if (px >= 0 && py >= 0 && px < S && py < S && img[py * S + px] > m) m = img[py * S + px];
        }
      }
      out[y * S + x] = m;
    }
  }
  return out;
}

/** Add Gaussian pixel noise of standard deviation `sigma`, clipped to [0, 1]. */
export function addNoise(img: Float32Array, sigma: number, rng: Rng): Float32Array {
  const out = new Float32Array(S * S);
  for (let i = 0; i < S * S; i++) out[i] = Math.min(1, Math.max(0, img[i] + sigma * rng.normal()));
  return out;
}

/** Translate by whole pixels (zero fill). */
export function shift(img: Float32Array, dx: number, dy: number): Float32Array {
  const out = new Float32Array(S * S);
  for (let y = 0; y < S; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= S) continue;
    for (let x = 0; x < S; x++) {
      const sx = x - dx;
      if (sx < 0 || sx >= S) continue;
      out[y * S + x] = img[sy * S + sx];
    }
  }
  return out;
}

export const DIGIT_CONDITIONS = Object.freeze({
  none: { perturbation: 'none', description: 'clean handwritten digits' },
  rotated: { perturbation: 'rotate(±20..40°)', description: 'digits rotated by 20 to 40 degrees either way' },
  thick: { perturbation: 'dilate(3×3)', description: 'digits with strokes thickened by a 3×3 dilation' },
  noisy: { perturbation: 'noise(σ=0.35)', description: 'digits with Gaussian pixel noise, σ = 0.35, clipped to [0, 1]' },
  robust: {
    perturbation: 'noise(σ=0.15)+shift(±3px)',
    description: 'digits with mild pixel noise and a random shift of up to 3 pixels each way',
  },
} as const);
export type DigitCondition = keyof typeof DIGIT_CONDITIONS;

/** Apply a named condition to one image. */
export function applyCondition(img: Float32Array, cond: DigitCondition, rng: Rng): Float32Array {
  switch (cond) {
    case 'none':
      return img;
    case 'rotated': {
      const deg = rng.uniform(20, 40) * (rng.next() < 0.5 ? -1 : 1);
      return rotate(img, deg);
    }
    case 'thick':
      return thicken(img);
    case 'noisy':
      return addNoise(img, 0.35, rng);
    case 'robust': {
      const dx = rng.int(7) - 3;
      const dy = rng.int(7) - 3;
      return addNoise(shift(img, dx, dy), 0.15, rng);
    }
  }
}
