import { describe, expect, it } from 'vitest';
import { printable } from './printable.ts';
import { checkHeaderShape, MAX_HEADER_DEPTH, MAX_TENSORS } from './safetensors.ts';
import { FormatError } from './errors.ts';

describe('printable', () => {
  it('escapes controls, escape codes, separators and bidi overrides; keeps ordinary text', () => {
    expect(printable('layer.0.weight')).toBe('layer.0.weight');
    expect(printable('é 名前 🙂')).toBe('é 名前 🙂');
    expect(printable('a\nb\r\tc')).toBe('a\\nb\\r\\tc');
    expect(printable('\u001b[31mred\u001b[0m')).toBe('\\x1b[31mred\\x1b[0m');
    expect(printable('x\u0000\u007f\u009b')).toBe('x\\x00\\x7f\\x9b');
    expect(printable('\u2028\u2029\u202e\u2066\ufeff')).toBe('\\u2028\\u2029\\u202e\\u2066\\ufeff');
    expect(printable('\ud800')).toBe('\\ud800');
    expect(printable('a\\nb')).toBe('a\\\\nb'); // a literal backslash-n is not a newline
  });
});

describe('checkHeaderShape: limits before the header is parsed', () => {
  const fail = (text: string) => {
    try {
      checkHeaderShape(text);
    } catch (e) {
      return (e as FormatError).check;
    }
    return null;
  };
  it('refuses deep nesting and too many entries, each by its own check; brackets in strings do not count', () => {
    expect(fail('{"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}')).toBe(null);
    expect(fail('{"a":' + '['.repeat(MAX_HEADER_DEPTH) + ']'.repeat(MAX_HEADER_DEPTH) + '}')).toBe('nesting');
    expect(fail('{"a":' + '['.repeat(MAX_HEADER_DEPTH - 1) + ']'.repeat(MAX_HEADER_DEPTH - 1) + '}')).toBe(null);
    expect(fail(`{"${'['.repeat(100)}\\"${'{'.repeat(100)}":1}`)).toBe(null);
    const entries = (n: number) => `{${Array.from({ length: n }, (_, i) => `"t${i}":0`).join(',')}}`;
    expect(fail(entries(MAX_TENSORS + 1))).toBe(null); // tensors plus __metadata__
    expect(fail(entries(MAX_TENSORS + 2))).toBe('tensor-count');
  });
});
