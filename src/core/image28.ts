/**
 * Turn a drawing into an MNIST-like 28×28 input: crop to the ink's bounding box, scale the longer
 * side to 20 pixels (area averaging), and centre the result by its centre of mass, as MNIST did.
 * Input: a grayscale image (0 = background, 255 = ink), row-major. Output: 784 floats in [0, 1].
 */
export function toImage28(gray: Uint8ClampedArray | Uint8Array, width: number, height: number): Float32Array {
  let x0 = width,
    y0 = height,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (gray[y * width + x] > 16) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  const out = new Float32Array(784);
  if (x1 < 0) return out;
  const bw = x1 - x0 + 1,
    bh = y1 - y0 + 1;
  const scale = 20 / Math.max(bw, bh);
  const sw = Math.max(1, Math.round(bw * scale)),
    sh = Math.max(1, Math.round(bh * scale));
  // area-average the bounding box into sw × sh
  const small = new Float32Array(sw * sh);
  for (let sy = 0; sy < sh; sy++) {
    for (let sx = 0; sx < sw; sx++) {
      const ax = x0 + (sx * bw) / sw,
        bx = x0 + ((sx + 1) * bw) / sw;
      const ay = y0 + (sy * bh) / sh,
        by = y0 + ((sy + 1) * bh) / sh;
      let sum = 0,
        n = 0;
      for (let y = Math.floor(ay); y < Math.ceil(by); y++) {
        for (let x = Math.floor(ax); x < Math.ceil(bx); x++) {
          sum += gray[y * width + x];
          n++;
        }
      }
      small[sy * sw + sx] = n ? sum / n / 255 : 0;
    }
  }
  // centre of mass → placed at (14, 14)
  let mass = 0,
    cx = 0,
    cy = 0;
  for (let y = 0; y < sh; y++)
    for (let x = 0; x < sw; x++) {
      const v = small[y * sw + x];
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  const ox = Math.round(14 - (mass ? cx / mass : sw / 2));
  const oy = Math.round(14 - (mass ? cy / mass : sh / 2));
  for (let y = 0; y < sh; y++)
    for (let x = 0; x < sw; x++) {
      const tx = x + ox,
        ty = y + oy;
      if (tx >= 0 && tx < 28 && ty >= 0 && ty < 28) out[ty * 28 + tx] = Math.min(1, small[y * sw + x]);
    }
  return out;
}
