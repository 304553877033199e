import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../seeded.ts';
import { normalizeForWall, refuseTextOverlap, WALL_WINDOW } from './text-wall.ts';

const suite =
  'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ' +
  'However little known the feelings or views of such a man may be on his first entering a neighbourhood.';
const mine = 'Dear diary: today I walked along the river and watched the herons fish in the shallows until dusk. ';

describe('the text wall between LM training files and suite texts', () => {
  it('passes unrelated text, and text sharing less than the window', () => {
    const shared = new TextDecoder().decode(normalizeForWall(suite).subarray(10, 10 + WALL_WINDOW - 1));
    const r = refuseTextOverlap([{ name: 'a.txt', text: mine + shared + mine }], [{ name: 'eval.txt', text: suite }]);
    expect(r.window).toBe(64);
    expect(r.checked[0].windows).toBe(normalizeForWall(suite).length - 63);
  });

  it('refuses a file that shares one 64-byte window, after case, whitespace and quote folding', () => {
    const copied = '  a SINGLE man\n\n in possession   of a good fortune, must be in want of a wife. However little known';
    expect(() =>
      refuseTextOverlap(
        [
          { name: 'ok.md', text: mine },
          { name: 'notes.md', text: mine + copied },
        ],
        [{ name: 'eval.txt', text: suite }],
      ),
    ).toThrow(/notes\.md shares 64 bytes \(normalised byte \d+\) with suite text eval\.txt \(byte \d+\)/);
    expect(() =>
      refuseTextOverlap(
        [{ name: 'q.txt', text: 'He said \u201cIt is a truth universally acknowledged, that a single man in poss' }],
        [{ name: 'eval.txt', text: suite.replace('It is', '"It is') }],
      ),
    ).toThrow(/q\.txt shares/);
  });

  it('a suite text shorter than the window is compared whole', () => {
    expect(() =>
      refuseTextOverlap(
        [{ name: 'a.txt', text: `${mine}Herons FISH in the shallows` }],
        [{ name: 'short.txt', text: 'herons fish in the shallows' }],
      ),
    ).toThrow(/a\.txt contains the whole of suite text short\.txt/);
    expect(refuseTextOverlap([{ name: 'a.txt', text: suite }], [{ name: 'short.txt', text: 'herons fish' }]).checked[0].windows).toBe(1);
  });

  it('20,000 windows of two unrelated random texts: no refusal', () => {
    const r = (seed: number) => {
      const rand = mulberry32(seed);
      return Array.from({ length: 20_000 }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join('');
    };
    expect(refuseTextOverlap([{ name: 'a.txt', text: r(1) }], [{ name: 's.txt', text: r(2) }]).checked[0].windows).toBe(20_000 - 63);
  });
});
