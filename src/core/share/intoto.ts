/**
 * in-toto Statement v1 (github.com/in-toto/attestation, spec/v1/statement.md), as the OpenSSF
 * model-signing format uses it: the subjects are files by name and SHA-256 digest, the predicate
 * says how they were serialized. The garden's predicate adds what a verifier needs to reproduce
 * the candidate: the lineage (operator@version, resolved parameters, seed, parent hashes).
 */
import type { Sha256Hex } from '../hash.ts';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const PREDICATE_TYPE = 'https://slm-garden.local/bundle/v1';

export interface Subject {
  name: string;
  digest: { sha256: Sha256Hex };
}

export interface GardenPredicate {
  /** As the model-signing format records it: one digest per file. */
  serialization: { method: 'files'; hash_type: 'sha256'; allow_symlinks: false };
  /** The candidate's subject name (the .slm). */
  candidate: string;
  /** The lineage template's subject name. */
  lineage: string;
  /** Whether the model's bytes travel in the bundle (`--with-model`). */
  withModel: boolean;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: typeof PREDICATE_TYPE;
  predicate: GardenPredicate;
}

export class StatementError extends Error {
  override name = 'StatementError';
}

const HEX64 = /^[0-9a-f]{64}$/;

export function makeStatement(subject: Subject[], predicate: GardenPredicate): Statement {
  return { _type: STATEMENT_TYPE, subject, predicateType: PREDICATE_TYPE, predicate };
}

/** Check a parsed statement; throws one line naming what is wrong. */
export function checkStatement(json: unknown): Statement {
  const s = json as Partial<Statement> | null;
  if (!s || typeof s !== 'object') throw new StatementError('the payload is not an in-toto statement');
  if (s._type !== STATEMENT_TYPE) throw new StatementError(`the statement's _type is ${JSON.stringify(s._type)}, not ${STATEMENT_TYPE}`);
  if (s.predicateType !== PREDICATE_TYPE)
    throw new StatementError(`the statement's predicateType is ${JSON.stringify(s.predicateType)}, not ${PREDICATE_TYPE}`);
  if (!Array.isArray(s.subject) || s.subject.length === 0) throw new StatementError('the statement has no subjects');
  const names = new Set<string>();
  for (const x of s.subject) {
    if (!x || typeof x.name !== 'string' || !x.digest || typeof x.digest.sha256 !== 'string' || !HEX64.test(x.digest.sha256))
      throw new StatementError('a subject needs a name and a sha256 digest');
    if (names.has(x.name)) throw new StatementError(`subject ${x.name} is listed twice`);
    names.add(x.name);
  }
  const p = s.predicate as Partial<GardenPredicate> | undefined;
  if (!p || typeof p.candidate !== 'string' || typeof p.lineage !== 'string' || typeof p.withModel !== 'boolean')
    throw new StatementError("the statement's predicate needs candidate, lineage and withModel");
  for (const n of [p.candidate, p.lineage]) if (!names.has(n)) throw new StatementError(`the predicate names ${n}, which is not a subject`);
  return s as Statement;
}
