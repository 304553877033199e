import { describe, expect, it } from 'vitest';
import { canonicalJson, hashJson, sha256Hex } from './hash.ts';

describe('hash', () => {
  it('sha256 of "abc" is the FIPS 180-2 test vector', () => {
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('canonical JSON sorts keys at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 'x' }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}');
  });
  it('equal values hash equally whatever the key order', () => {
    expect(hashJson({ x: 1, y: [2, 3] })).toBe(hashJson({ y: [2, 3], x: 1 }));
  });
  it('refuses non-finite numbers', () => {
    expect(() => canonicalJson({ a: NaN })).toThrow(/non-finite/);
  });
});
