import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  APP_FAMILIES,
  appFamily,
  chosenFamily,
  chosenFamilyId,
  familyPolicy,
  FAMILY_CHOICES,
  FAMILY_KEY,
  LM_FAMILY,
  lmSlotName,
} from './family.ts';
import { gardenDatabases } from './repo.ts';
import { mailBody } from '../core/models/mail-import.ts';
import { checkCatalog } from '../core/models/catalog.ts';
import { parseContract } from '../core/lab/contract.ts';
import { mailFeatures } from '../core/models/mail-features.ts';

const catalog = checkCatalog(JSON.parse(readFileSync('public/starter/catalog.json', 'utf8')));
const cat = (id: string) => catalog.families.find((f) => f.id === id)!;
const hash = (fam: string, suite: string) => cat(fam).suites.find((s) => s.id === suite)!.hash;

describe('app families', () => {
  it('digits keeps the policy the app had before families (primary mixed, guardrail clean)', () => {
    const p = familyPolicy(appFamily('digits'), cat('digits'), ['blend']);
    expect(p.primary).toEqual({ suite: 'mixed', metric: 'accuracy', direction: 'max', margin: 0.005 });
    expect(p.guardrails).toEqual([{ suite: 'clean', metric: 'accuracy', direction: 'max', tolerance: 0.03 }]);
    expect(p.suites).toEqual({ mixed: hash('digits', 'digits-mixed'), clean: hash('digits', 'digits-test') });
  });

  it('mail pins its own suites from the catalog, primary first', () => {
    const p = familyPolicy(appFamily('mail'), cat('mail'), ['blend']);
    expect(p.primary.suite).toBe('clean');
    expect(p.guardrails.map((g) => g.suite)).toEqual(['later', 'hard']);
    expect(p.suites).toEqual({
      clean: hash('mail', 'mail-test'),
      later: hash('mail', 'mail-later'),
      hard: hash('mail', 'mail-hard'),
    });
    expect(() => familyPolicy(appFamily('mail'), cat('digits'), [])).toThrow(/has no suite "mail-test"/);
  });

  it('each family has its own slot (its contract), garden and a catalog family', () => {
    for (const f of APP_FAMILIES) {
      expect(parseContract(f.contract.text, f.contract.file).slot).toBe(f.slot);
      expect(cat(f.id).output.labels.length).toBeGreaterThan(1);
    }
    expect(new Set(APP_FAMILIES.map((f) => f.dbPrefix)).size).toBe(APP_FAMILIES.length);
    expect(() => appFamily('nope')).toThrow(/runs no family "nope"/);
  });

  it('the choice is read from storage, unknown or missing falls back to digits', () => {
    const store = (v: string | null) => ({ getItem: (k: string) => (k === FAMILY_KEY ? v : null) });
    expect(chosenFamily(store('mail')).id).toBe('mail');
    expect(chosenFamily(store('bogus')).id).toBe('digits');
    expect(chosenFamily(store(null)).id).toBe('digits');
    expect(chosenFamily(null).id).toBe('digits');
  });

  it('the language-model family is a third choice: its own slot (lm.contract), chosen by id, never a classifier garden', () => {
    expect(FAMILY_CHOICES.map((f) => f.id)).toEqual(['digits', 'mail', 'lm']);
    expect(parseContract(LM_FAMILY.contract.text, LM_FAMILY.contract.file).slot).toBe(LM_FAMILY.slot);
    expect(LM_FAMILY.slot).toBe('lm');
    const store = (v: string | null) => ({ getItem: (k: string) => (k === FAMILY_KEY ? v : null) });
    expect(chosenFamilyId(store('lm'))).toBe('lm');
    expect(chosenFamilyId(store('mail'))).toBe('mail');
    expect(chosenFamilyId(store('bogus'))).toBe('digits');
    // garden.ts opens a classifier family only: on the LM page it is digits, never opened.
    expect(chosenFamily(store('lm')).id).toBe('digits');
    // An LM garden made before the family keeps its databases (the names the text playground and the
    // LM lab gave them); every zone is apart from every classifier garden's, so deleting the digits
    // or mail garden (repo.ts deleteGarden) never deletes the language models or their ledger.
    expect(LM_FAMILY.databases.models).toBe('slm-garden-text');
    expect(LM_FAMILY.databases.ledger).toBe('slm-garden-text-audit');
    const classifier = APP_FAMILIES.flatMap((f) => Object.values(gardenDatabases(f.dbPrefix)));
    for (const name of Object.values(LM_FAMILY.databases)) expect(classifier).not.toContain(name);
  });

  it('the LM slot is named as lm.contract names it, unless the ledger already created it under its old name', () => {
    expect(lmSlotName([])).toBe('lm');
    expect(lmSlotName(['lm'])).toBe('lm');
    expect(lmSlotName(['text'])).toBe('text');
    expect(lmSlotName(['text', 'lm'])).toBe('lm');
  });

  it('mailBody drops the headers of a message, and reads a headerless text whole', () => {
    const eml = 'From: a@b.example\nSubject: hi\n\nfree money now';
    expect(mailBody(eml)).toBe('free money now');
    const text = 'first paragraph about the build\n\nsecond paragraph';
    expect(mailBody(text)).toBe(text);
    expect(Array.from(mailFeatures(mailBody(eml)))).toEqual(Array.from(mailFeatures('free money now')));
  });
});
