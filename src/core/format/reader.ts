/**
 * Streaming safetensors reader: parse the header from a prefix of a random-access source, then
 * read tensors by offset one at a time.
 */
import { FormatError } from './errors.ts';
import { declaredHeaderLength, parseHeader, type HeaderEntry, type SafetensorsHeader, type TensorSpec } from './safetensors.ts';
import type { ByteSource } from './source.ts';
import type { Tensor } from '../tensor.ts';

export interface SafetensorsReader {
  readonly source: ByteSource;
  readonly header: SafetensorsHeader;
  readonly metadata: Record<string, string>;
  /** Tensor specs sorted by name. */
  readonly tensors: TensorSpec[];
  has(name: string): boolean;
  entry(name: string): HeaderEntry;
  /** One tensor's bytes, read from the source. */
  read(name: string): Promise<Tensor>;
}

/** Parse the header of a safetensors (or .slm) source, reading only its first 8 + N bytes. */
export async function openSafetensors(source: ByteSource): Promise<SafetensorsReader> {
  if (source.size < 8) throw new FormatError('file-length', `file is ${source.size} bytes, shorter than the 8-byte header length`);
  const first = await source.read(0, 8);
  const n = declaredHeaderLength(first, source.size);
  const prefix = await source.read(0, 8 + n);
  const header = parseHeader(prefix, source.size);
  const byName = new Map(header.entries.map((e) => [e.name, e]));
  const tensors = header.entries
    .map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const entry = (name: string): HeaderEntry => {
    const e = byName.get(name);
    if (!e) throw new FormatError('header-keys', `no tensor named ${JSON.stringify(name)}`);
    return e;
  };
  return {
    source,
    header,
    metadata: header.metadata,
    tensors,
    has: (name) => byName.has(name),
    entry,
    async read(name) {
      const e = entry(name);
      const data = await source.read(header.dataStart + e.begin, e.end - e.begin);
      return { name: e.name, dtype: e.dtype, shape: [...e.shape], data };
    },
  };
}
