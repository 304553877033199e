import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { accuracy, argmaxRows, expectedCalibrationError, meanNll, median, perplexity, softmaxRow } from './metrics.ts';

const logitsArb = (rows: number, classes: number) =>
  fc.array(fc.float({ min: -20, max: 20, noNaN: true, noDefaultInfinity: true }), { minLength: rows * classes, maxLength: rows * classes });

describe('metrics', () => {
  it('accuracy counts argmax hits and lies in [0, 1]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 2, max: 6 }), fc.integer(), (rows, classes, seed) => {
        const logits = Float32Array.from({ length: rows * classes }, (_, i) => Math.sin(seed + i * 12.9898) * 5);
        const labels = Uint8Array.from({ length: rows }, (_, i) => Math.abs(seed + i * 7) % classes);
        const pred = argmaxRows(logits, classes);
        const hits = labels.reduce((s, y, i) => s + (pred[i] === y ? 1 : 0), 0);
        expect(accuracy(logits, labels, classes)).toBeCloseTo(hits / rows, 12);
        // Labels set to the predictions give accuracy 1.
        expect(accuracy(logits, Uint8Array.from(pred), classes)).toBe(1);
      }),
    );
  });

  it('ECE is 0 for a perfectly calibrated confident model and equals 1 - confidence when all right', () => {
    // One-hot logits of +50: confidence ~1, all correct: ECE ~0.
    const classes = 4;
    const labels = Uint8Array.from([0, 1, 2, 3, 1]);
    const logits = new Float32Array(labels.length * classes);
    labels.forEach((y, i) => (logits[i * classes + y] = 50));
    expect(expectedCalibrationError(logits, labels, classes)).toBeLessThan(1e-9);
    // Uniform logits: confidence 1/4 each; all predicted class 0.
    const flat = new Float32Array(labels.length * classes);
    const acc0 = labels.filter((y) => y === 0).length / labels.length;
    expect(expectedCalibrationError(flat, labels, classes)).toBeCloseTo(Math.abs(acc0 - 0.25), 12);
  });

  it('ECE lies in [0, 1] and never exceeds the mean |correct - confidence|', () => {
    fc.assert(
      fc.property(logitsArb(12, 3), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 12, maxLength: 12 }), (l, y) => {
        const logits = Float32Array.from(l);
        const labels = Uint8Array.from(y);
        const ece = expectedCalibrationError(logits, labels, 3);
        expect(ece).toBeGreaterThanOrEqual(0);
        expect(ece).toBeLessThanOrEqual(1);
        const p = new Float64Array(3);
        let bound = 0;
        const pred = argmaxRows(logits, 3);
        for (let i = 0; i < 12; i++) {
          softmaxRow(logits, i * 3, 3, p);
          bound += Math.abs((pred[i] === labels[i] ? 1 : 0) - p[pred[i]]) / 12;
        }
        expect(ece).toBeLessThanOrEqual(bound + 1e-9);
      }),
    );
  });

  it('perplexity of uniform logits is the class count; NLL is non-negative', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 50 }), fc.integer({ min: 1, max: 10 }), (classes, rows) => {
        const logits = new Float32Array(rows * classes).fill(3);
        const labels = Uint8Array.from({ length: rows }, (_, i) => i % classes);
        expect(perplexity(logits, labels, classes)).toBeCloseTo(classes, 9);
      }),
    );
    fc.assert(
      fc.property(logitsArb(5, 4), (l) => {
        expect(meanNll(Float32Array.from(l), Uint8Array.from([0, 1, 2, 3, 0]), 4)).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('median of odd and even lists; NaN when empty', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 30 }), (xs) => {
        const m = median(xs);
        expect(xs.filter((x) => x < m).length).toBeLessThanOrEqual(xs.length / 2);
        expect(xs.filter((x) => x > m).length).toBeLessThanOrEqual(xs.length / 2);
      }),
    );
  });

  it('refuses mismatched shapes and out-of-range labels with a clear message', () => {
    expect(() => accuracy(new Float32Array(5), new Uint8Array(2), 3)).toThrow(/5 logits for 2 labels × 3 classes/);
    expect(() => accuracy(new Float32Array(6), Uint8Array.from([0, 3]), 3)).toThrow(/label 3 at row 1 is outside 0..2/);
  });
});
