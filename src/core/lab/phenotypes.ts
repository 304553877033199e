/**
 * Phenotypes: one pool, several expressions. A device profile (a low-memory laptop, a phone) has
 * its own selector registry over the same pool of models: slot `digits` on the phone is the slot
 * `digits@phone`, created and changed by the same release controller, so the ledger records each
 * expression. A profile's registry may only name models of the base slot's pool (any model that
 * ever held a role in it) that fit the profile's byte budget; choosePhenotype picks the best such
 * model (an int4 allele, say) by a score the caller gives (accuracy on a suite, fitness).
 */
import type { SelectorRegistry } from '../manifest/kinds.ts';
import type { ReleaseController } from './release.ts';

export interface DeviceProfile {
  description: string;
  /** Largest model the device holds, in bytes (null: no limit). */
  maxBytes: number | null;
}

export const DEVICE_PROFILES = Object.freeze({
  default: Object.freeze({ description: 'the device the garden runs on', maxBytes: null }),
  'low-memory-laptop': Object.freeze({ description: 'a laptop with little memory to spare', maxBytes: 64 * 1024 * 1024 }),
  phone: Object.freeze({ description: 'a phone', maxBytes: 16 * 1024 * 1024 }),
} satisfies Record<string, DeviceProfile>);
export type ProfileId = keyof typeof DEVICE_PROFILES;

export class PhenotypeError extends Error {
  override name = 'PhenotypeError';
}

function profileOf(id: string): DeviceProfile {
  if (!Object.prototype.hasOwnProperty.call(DEVICE_PROFILES, id))
    throw new PhenotypeError(`unknown device profile "${id}"; valid: ${Object.keys(DEVICE_PROFILES).join(', ')}`);
  return DEVICE_PROFILES[id as ProfileId];
}

/** The slot that holds a profile's expression of `slot` (the slot itself for the default profile). */
export function phenotypeSlot(slot: string, profile: string): string {
  profileOf(profile);
  return profile === 'default' ? slot : `${slot}@${profile}`;
}

/** Every model that ever held a role in the base slot: the pool its phenotypes express. */
export function slotPool(release: ReleaseController, slot: string): string[] {
  const pool = new Set<string>();
  for (const v of release.versions(slot)) for (const m of [v.champion, v.canary?.model, v.shadow, ...v.fallback]) if (m) pool.add(m);
  return [...pool].sort();
}

/** The best model of the pool that fits the profile, by `score` (higher first; ties by id); null when none fits. */
export function choosePhenotype(
  pool: readonly string[],
  profile: string,
  sizes: Readonly<Record<string, number>>,
  score: Readonly<Record<string, number>>,
): string | null {
  const { maxBytes } = profileOf(profile);
  const fits = pool.filter(
    (m) => typeof sizes[m] === 'number' && (maxBytes === null || sizes[m] <= maxBytes) && typeof score[m] === 'number',
  );
  fits.sort((a, b) => score[b] - score[a] || (a < b ? -1 : 1));
  return fits[0] ?? null;
}

/**
 * Create a profile's registry for `slot`: the base slot's contract, `champion` and `fallback`, each
 * from the base slot's pool and within the profile's byte budget. A `create` release entry records it.
 */
export async function expressPhenotype(
  release: ReleaseController,
  slot: string,
  profile: string,
  models: { champion: string; fallback?: string[] },
  sizes: Readonly<Record<string, number>>,
  reason: string,
): Promise<SelectorRegistry> {
  const { maxBytes } = profileOf(profile);
  if (profile === 'default') throw new PhenotypeError(`the default profile is slot "${slot}" itself`);
  const base = release.current(slot);
  const pool = new Set(slotPool(release, slot));
  const named = [models.champion, ...(models.fallback ?? [])];
  for (const m of named) {
    if (!pool.has(m))
      throw new PhenotypeError(
        `"${m}" is not in the pool of slot "${slot}" (${[...pool].join(', ')}); a phenotype expresses the same pool`,
      );
    if (typeof sizes[m] !== 'number') throw new PhenotypeError(`no size for "${m}"`);
    if (maxBytes !== null && sizes[m] > maxBytes)
      throw new PhenotypeError(`"${m}" is ${sizes[m]} bytes; profile ${profile} holds at most ${maxBytes}`);
  }
  return release.createSlot(
    phenotypeSlot(slot, profile),
    base.contract,
    models.champion,
    models.fallback ?? [],
    `phenotype of "${slot}" for ${profile}: ${reason}`,
  );
}
