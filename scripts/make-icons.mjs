// Renders the PWA's PNG icons (a leaf on a green tile) without any image library: a tiny
// rasterizer and PNG encoder. Run once; the PNGs are committed in public/icons/.
import { deflateSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

function crc32(buf) {
  let c,
    crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel((x + 0.5) / size, (y + 0.5) / size);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
      raw[o + 3] = a;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
function leaf(u, v) {
  const inTile = Math.hypot(Math.max(0, Math.abs(u - 0.5) - 0.28), Math.max(0, Math.abs(v - 0.5) - 0.28)) < 0.22;
  if (!inTile) return [0, 0, 0, 0];
  // big leaf: ellipse rotated 45° centred at (0.64, 0.36)
  const rot = (cx, cy, a, b) => {
    const x = u - cx,
      y = v - cy;
    const p = (x + y) / Math.SQRT2,
      q = (x - y) / Math.SQRT2;
    return (p * p) / (a * a) + (q * q) / (b * b) < 1;
  };
  if (Math.abs(u - 0.5) < 0.03 && v > 0.45 && v < 0.82) return [246, 244, 238, 255];
  if (rot(0.64, 0.36, 0.09, 0.2)) return [159, 212, 155, 255];
  if (rot(0.36, 0.5, 0.2, 0.07)) return [216, 239, 201, 255];
  return [31, 81, 53, 255];
}
for (const size of [192, 512]) writeFileSync(new URL(`../public/icons/icon-${size}.png`, import.meta.url), png(size, leaf));
console.log('icons written');
