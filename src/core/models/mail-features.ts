/**
 * Features for the MAIL family (spam filter): the message body (headers stripped), lower-cased,
 * split into word tokens, hashed (FNV-1a) into MAIL_BUCKETS buckets; each bucket holds
 * log(1 + count), divided by the largest bucket so values lie in [0, 1], then rounded to 1/255
 * steps (so a suite stores them as bytes and the app computes exactly what the suite holds).
 */

export const MAIL_BUCKETS = 1024;
export const MAIL_LABELS = ['ham', 'spam'];

/** The body of an RFC 822 message: everything after the first empty line (the whole text if none). */
export function stripHeaders(message: string): string {
  const m = /\r?\n\r?\n/.exec(message);
  return m ? message.slice(m.index + m[0].length) : message;
}

const TOKEN = /[a-z$€£!][a-z0-9$€£!'-]{0,23}/g;

export function mailTokens(body: string): string[] {
  return body.toLowerCase().match(TOKEN) ?? [];
}

/** FNV-1a over the UTF-16 code units of a token, reduced to a bucket. */
export function tokenBucket(token: string, buckets = MAIL_BUCKETS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) h = Math.imul(h ^ token.charCodeAt(i), 0x01000193) >>> 0;
  return h % buckets;
}

/** Quantised features as bytes (value × 255). */
export function mailFeatureBytes(body: string, buckets = MAIL_BUCKETS): Uint8Array {
  const counts = new Float64Array(buckets);
  for (const t of mailTokens(body)) counts[tokenBucket(t, buckets)]++;
  let max = 0;
  for (let i = 0; i < buckets; i++) {
    counts[i] = Math.log1p(counts[i]);
    if (counts[i] > max) max = counts[i];
  }
  const out = new Uint8Array(buckets);
  if (max === 0) return out;
  for (let i = 0; i < buckets; i++) out[i] = Math.round((255 * counts[i]) / max);
  return out;
}

/** Model input for one message body: MAIL_BUCKETS floats in [0, 1]. */
export function mailFeatures(body: string, buckets = MAIL_BUCKETS): Float32Array {
  const b = mailFeatureBytes(body, buckets);
  const out = new Float32Array(buckets);
  for (let i = 0; i < buckets; i++) out[i] = b[i] * (1 / 255);
  return out;
}
