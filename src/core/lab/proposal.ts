/**
 * Code-change proposals. When a candidate needs something the runtime lacks — an operator not in
 * the allowlist, a graph op the runtime cannot run, a change to an evaluation suite — the lab writes
 * a `proposal` ledger entry with its evidence, and the candidate's promotion pauses until an
 * `approval` entry from the policy zone names the proposal (blast-radius.ts `approve`, for:
 * 'proposal'). A suite change is such a proposal, and once approved it is applied by an explicit
 * re-baseline (the policy zone's `re-baseline` entry) that names every admitted model whose scores
 * must be computed again. GuardedRelease (blast-radius.ts) refuses canary and champion steps of a
 * model with a pending proposal.
 */
import { hashJson, type Sha256Hex } from '../hash.ts';
import type { LedgerEntry } from '../manifest/kinds.ts';
import type { Ledger } from './ledger.ts';
import type { PolicyZone } from './policy.ts';

export const PROPOSAL_KINDS = Object.freeze({
  operator: 'an operator that is not in the policy allowlist',
  'graph-op': 'a graph op the runtime cannot run',
  'suite-change': 'a change to a frozen evaluation suite (followed by a re-baseline)',
} as const);
export type ProposalKind = keyof typeof PROPOSAL_KINDS;

export interface Proposal {
  kind: ProposalKind;
  slot: string;
  /** The candidate whose promotion waits on it (null for a suite change that no candidate asked for). */
  candidate: string | null;
  /** What is asked for: the operator id, the op name, or the suite name. */
  subject: string;
  /** Hashes and figures that show the need (sidecars, the runtime's refusal, the new suite's hash). */
  evidence: Record<string, unknown>;
  reason: string;
}

export class ProposalError extends Error {
  override name = 'ProposalError';
}

/** The hash a proposal is approved by. */
export function proposalHash(p: Proposal): Sha256Hex {
  return hashJson({ kind: p.kind, slot: p.slot, candidate: p.candidate, subject: p.subject, evidence: p.evidence, reason: p.reason });
}

/** Write a proposal entry; returns its hash. */
export async function propose(ledger: Ledger, p: Proposal): Promise<Sha256Hex> {
  if (!Object.prototype.hasOwnProperty.call(PROPOSAL_KINDS, p.kind))
    throw new ProposalError(`proposal kind "${p.kind}" is unknown; valid: ${Object.keys(PROPOSAL_KINDS).join(', ')}`);
  if (!p.reason.trim() || !p.subject.trim()) throw new ProposalError('a proposal names its subject and its reason');
  const hash = proposalHash(p);
  if (ledger.entries().some((e) => e.type === 'proposal' && e.payload.proposalHash === hash))
    throw new ProposalError(`proposal ${hash.slice(0, 16)}… is already in the ledger`);
  await ledger.append('proposal', { ...p, proposalHash: hash });
  return hash;
}

function approved(entries: readonly LedgerEntry[]): Set<string> {
  return new Set(entries.filter((e) => e.type === 'approval' && e.payload.for === 'proposal').map((e) => String(e.payload.proposal)));
}

/** Proposals of a candidate with no approval yet. */
export function pendingProposals(
  entries: readonly LedgerEntry[],
  candidate: string,
): (Proposal & { proposalHash: Sha256Hex; index: number })[] {
  const ok = approved(entries);
  return entries
    .filter((e) => e.type === 'proposal' && e.payload.candidate === candidate && !ok.has(String(e.payload.proposalHash)))
    .map((e) => ({ ...(e.payload as unknown as Proposal), proposalHash: String(e.payload.proposalHash), index: e.index }));
}

/** Is the candidate's promotion paused? With why. */
export function promotionPaused(entries: readonly LedgerEntry[], candidate: string): { paused: boolean; reasons: string[] } {
  const p = pendingProposals(entries, candidate);
  return {
    paused: p.length > 0,
    reasons: p.map((x) => `proposal ${x.proposalHash.slice(0, 16)}… (${x.kind} ${x.subject}, entry ${x.index}) has no approval`),
  };
}

/**
 * Apply an approved suite-change proposal: re-pin the suite (a `re-baseline` entry) and return the
 * admitted models (each was evaluated on every pinned suite), whose scores must be computed again
 * on the new one; the re-baseline entry names them.
 */
export async function applySuiteChange(
  ledger: Ledger,
  zone: PolicyZone,
  hash: Sha256Hex,
): Promise<{ suite: string; from: Sha256Hex; to: Sha256Hex; rescore: string[] }> {
  const entry = ledger.entries().find((e) => e.type === 'proposal' && e.payload.proposalHash === hash);
  if (!entry) throw new ProposalError(`no proposal ${hash.slice(0, 16)}… in the ledger`);
  const p = entry.payload as unknown as Proposal;
  if (p.kind !== 'suite-change') throw new ProposalError(`proposal ${hash.slice(0, 16)}… is a ${p.kind} proposal, not a suite change`);
  if (!approved(ledger.entries()).has(hash))
    throw new ProposalError(`proposal ${hash.slice(0, 16)}… has no approval; a suite changes only after one`);
  const to = p.evidence.suiteHash;
  if (typeof to !== 'string' || !/^[0-9a-f]{64}$/.test(to))
    throw new ProposalError("a suite-change proposal carries the new suite's hash as evidence.suiteHash");
  const from = zone.current().suites[p.subject];
  if (from === undefined) throw new ProposalError(`the policy pins no suite "${p.subject}"`);
  const rescore = [
    ...new Set(
      ledger
        .entries()
        .filter((e) => e.type === 'admission')
        .map((e) => String(e.payload.model)),
    ),
  ].sort();
  await zone.rebaseline(
    p.subject,
    to,
    `approved proposal ${hash.slice(0, 16)}…: ${p.reason}; scores to compute again on the new suite: ${rescore.join(', ') || 'none'}`,
  );
  return { suite: p.subject, from, to, rescore };
}
