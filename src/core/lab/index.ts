/** Lab governance: viability, release, ledger, population review, selector registry, policy and trust zones. */
export * from './ledger.ts';
export * from './policy.ts';
export * from './fitness.ts';
export * from './viability.ts';
export * from './release.ts';
export * from './router.ts';
export * from './population.ts';
export * from './round.ts';
export * from './zones.ts';
export * from './admission.ts';
export * from './records.ts';
export * from './contract.ts';
export * from './temporal-fitness.ts';
export * from './alleles.ts';
export * from './blast-radius.ts';
export * from './benefit.ts';
