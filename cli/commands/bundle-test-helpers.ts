/** Tests only: a real candidate bred by the CLI, with the records garden breed --json printed (bundle and verify tests). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runGarden } from '../test-run.ts';
import { speciesId, speciesSignature, writeSlm } from '../../src/core/format/slm.ts';
import { randomModel } from '../../src/core/operators/test-data.ts';

/** Three parents, a DARE-TIES breed by the CLI, and its records as garden breed --json printed them. */
export async function bredCandidate(root: string): Promise<{ slm: string; records: string }> {
  mkdirSync(join(root, 'parents'), { recursive: true });
  for (const seed of [1, 2, 3]) {
    const tensors = randomModel(seed);
    writeFileSync(
      join(root, 'parents', `p${seed}.slm`),
      writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', ['a', 'b', 'c'])), graph: '', vocabulary: ['a', 'b', 'c'] }),
    );
  }
  const recipe = join(root, 'recipe.json');
  writeFileSync(
    recipe,
    JSON.stringify({
      kind: 'recipe',
      schemaVersion: 1,
      operator: 'dare_ties',
      params: { drop: 0.4, weights: [0.6, 0.4] },
      seed: 11,
      base: { path: 'parents/p1.slm' },
      parents: [{ path: 'parents/p2.slm' }, { path: 'parents/p3.slm' }],
      output: { path: 'child.slm' },
    }),
  );
  const r = await runGarden('breed', recipe, '--json', '--threads', '0', '--root', root);
  if (r.code !== 0) throw new Error(r.err);
  const slm = join(root, 'child.slm');
  writeFileSync(`${slm}.records.json`, r.out);
  return { slm, records: `${slm}.records.json` };
}
