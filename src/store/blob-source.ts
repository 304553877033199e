/** A ByteSource over a Blob or File (browser; also Node ≥ 20): tensors are read by slicing. */
import { checkRange, type ByteSource } from '../core/format/source.ts';

export function blobSource(blob: Blob, name?: string): ByteSource {
  return {
    size: blob.size,
    name: name ?? (blob as File).name,
    async read(offset, length) {
      checkRange(offset, length, blob.size);
      const buf = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (buf.length !== length) throw new Error(`short read from ${name ?? 'blob'}: ${buf.length} of ${length} bytes at ${offset}`);
      return buf;
    },
  };
}
