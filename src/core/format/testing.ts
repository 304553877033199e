/** Seeded helpers for the format tests (a tiny PRNG so tests are reproducible). */
import { mulberry32 } from '../seeded.ts';

export const mulberry = mulberry32;
