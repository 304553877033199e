/**
 * One-line error text for the precompiled ajv validators (manifests, policy, lab rounds, recipes):
 * a JSON path (`$.canary.share`, `$.parents[0]`) and what is wrong with it.
 * Keys a file chose are printed escaped (src/core/format/printable.ts), so the line stays one line.
 */
import { printable } from '../format/printable.ts';

/** The shape of an ajv error, as the standalone validators report it. */
export interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** A precompiled validator: returns true when valid; the errors of the last call are on `.errors`. */
export type ValidateFn = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

/** One error: its path and problem. */
export function describeAjvError(e: AjvError): string {
  const path =
    '$' +
    e.instancePath.replace(/\/([^/]+)/g, (_m, seg: string) =>
      /^\d+$/.test(seg) ? `[${seg}]` : `.${printable(seg.replace(/~1/g, '/').replace(/~0/g, '~'))}`,
    );
  switch (e.keyword) {
    case 'additionalProperties':
      return `${path}: unknown key "${printable(String(e.params.additionalProperty))}"`;
    case 'required':
      return `${path}: missing key "${printable(String(e.params.missingProperty))}"`;
    case 'enum':
      return `${path}: must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${path}: must be ${JSON.stringify(e.params.allowedValue)}`;
    default:
      return `${path}: ${e.message ?? e.keyword}`;
  }
}

/** Every error on one line: the noise ajv adds for anyOf/not branches dropped when a more specific error exists; at most `max` shown. */
export function describeAjvErrors(errors: readonly AjvError[], max = 5): string {
  const specific = errors.filter(
    (e) =>
      e.keyword !== 'anyOf' &&
      e.keyword !== 'not' &&
      !(e.keyword === 'type' && errors.some((o) => o !== e && o.instancePath === e.instancePath && o.keyword === 'type')),
  );
  const unique = [...new Set((specific.length ? specific : errors).map(describeAjvError))];
  return unique.slice(0, max).join('; ') + (unique.length > max ? `; and ${unique.length - max} more` : '');
}
