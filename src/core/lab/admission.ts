/**
 * Admission: the one way a candidate enters a task slot. admitToShadow checks every precondition
 * first, then appends one `admission` ledger entry and the `release` entry that puts the model in
 * shadow, both inside one queued step of the release controller and in one store write, so nothing
 * else can change the slot in between and a refused or failed admission leaves no entry behind. The app (src/app/garden.ts)
 * and the lab round (applyRound) both call it with documents built by records.ts, so the ledger
 * holds one admission payload:
 *
 *   { slot, model, candidate, admission, admissionHash, promotionTemplate, policyHash }
 *
 * slot — the task slot; model — the id the selector registry uses for it; candidate — the
 * candidate's .slm hash; admission — the full admission-record manifest; admissionHash — its hash;
 * promotionTemplate — the full promotion-template manifest; policyHash — the policy it was judged
 * under (null when not given).
 */
import type { Sha256Hex } from '../hash.ts';
import type { AdmissionRecord, LedgerEntry, PromotionTemplate, SelectorRegistry } from '../manifest/kinds.ts';
import { manifestHash } from '../manifest/index.ts';
import { validateManifest } from '../manifest/validate.ts';
import type { Ledger } from './ledger.ts';
import { RELEASE_STAGES, ReleaseError, type ReleaseController } from './release.ts';

export interface AdmitToShadowInput {
  slot: string;
  /** The model's id in the selector registry (the app's model id; the CLI uses the candidate hash). */
  model: string;
  /** SHA-256 of the candidate's .slm bytes: must be the admission record's and the template's candidate. */
  candidate: string;
  admission: AdmissionRecord;
  promotionTemplate: PromotionTemplate;
  policyHash?: Sha256Hex | null;
  /** The release entry's reason; default "<model> admitted; runs in shadow beside the champion". */
  reason?: string;
}

/** The payload of every `admission` ledger entry. */
export interface AdmissionPayload {
  slot: string;
  model: string;
  candidate: string;
  admission: AdmissionRecord;
  admissionHash: Sha256Hex;
  promotionTemplate: PromotionTemplate;
  policyHash: Sha256Hex | null;
}

export interface Admitted {
  admissionHash: Sha256Hex;
  /** The admission ledger entry. */
  entry: LedgerEntry;
  /** The registry version that puts the model in shadow. */
  registry: SelectorRegistry;
}

export class AdmissionError extends Error {
  override name = 'AdmissionError';
}

/** The checks that need no registry: the manifests are valid and agree with each other. */
function checkDocuments(input: AdmitToShadowInput): { admission: AdmissionRecord; template: PromotionTemplate } {
  const admission = validateManifest(input.admission, 'admission-record');
  const template = validateManifest(input.promotionTemplate, 'promotion-template');
  const who = `admission of "${input.model}" to slot "${input.slot}"`;
  if (admission.candidate !== input.candidate)
    throw new AdmissionError(
      `${who}: the admission record is for candidate ${admission.candidate.slice(0, 16)}…, not ${input.candidate.slice(0, 16)}…`,
    );
  if (template.candidate !== input.candidate)
    throw new AdmissionError(
      `${who}: the promotion template is for candidate ${template.candidate.slice(0, 16)}…, not ${input.candidate.slice(0, 16)}…`,
    );
  if (admission.slot !== input.slot) throw new AdmissionError(`${who}: the admission record names slot "${admission.slot}"`);
  if (template.slot !== input.slot) throw new AdmissionError(`${who}: the promotion template names slot "${template.slot}"`);
  const th = manifestHash(template);
  if (admission.promotionTemplate !== th)
    throw new AdmissionError(
      `${who}: the admission record binds promotion template ${admission.promotionTemplate.slice(0, 16)}…, but the template given hashes to ${th.slice(0, 16)}…`,
    );
  // The release stages are gates decided after admission; no other gate of the template may have failed.
  const failed = template.gates.filter((g) => g.status === 'failed' && !(RELEASE_STAGES as readonly string[]).includes(g.id));
  if (failed.length)
    throw new AdmissionError(
      `${who}: gate${failed.length > 1 ? 's' : ''} ${failed.map((g) => `${g.id}${g.detail ? ` (${g.detail})` : ''}`).join(', ')} failed`,
    );
  return { admission, template };
}

/**
 * Admit a candidate and put it in shadow. Preconditions, all checked before anything is written:
 * the manifests are valid and agree (candidate, slot, template hash), no pre-release gate failed,
 * the slot exists, and the model holds no role in it yet (champion, canary or shadow).
 */
export async function admitToShadow(zones: { ledger: Ledger; release: ReleaseController }, input: AdmitToShadowInput): Promise<Admitted> {
  const { slot, model } = input;
  if (!zones.release.slots().includes(slot))
    throw new ReleaseError(`no task slot "${slot}"; slots: ${zones.release.slots().join(', ') || '(none)'}`);
  const { admission, template } = checkDocuments(input);
  const admissionHash = manifestHash(admission);
  const registry = await zones.release.toShadow(
    slot,
    model,
    input.reason ?? `${model} admitted; runs in shadow beside the champion`,
    { admission: admissionHash },
    async (cur) => {
      // Inside the release controller's queue: the registry cannot change until the shadow entry is written.
      const role = cur.champion === model ? 'champion' : cur.shadow === model ? 'shadow' : cur.canary?.model === model ? 'canary' : null;
      if (role) throw new AdmissionError(`"${model}" is already the ${role} of slot "${slot}"; nothing was admitted`);
      const payload: AdmissionPayload = {
        slot,
        model,
        candidate: input.candidate,
        admission,
        admissionHash,
        promotionTemplate: template,
        policyHash: input.policyHash ?? null,
      };
      return [{ type: 'admission', payload: { ...payload } }];
    },
  );
  // Written in one store write with the release entry that follows it.
  const entry = zones.ledger
    .entries()
    .findLast((e) => e.type === 'admission' && e.payload.admissionHash === admissionHash && e.payload.model === model)!;
  return { admissionHash, entry, registry };
}
