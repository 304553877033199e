/**
 * Messages out of the files a user imports to train the mail family: one RFC 822 message per
 * `.eml` file, many in an mbox file (mboxrd/mboxo: each message starts at a "From " line at the
 * start of the file or after an empty line, and body lines that read ">From " were escaped).
 * Each message keeps its raw text (the features are made from it as for any routed message:
 * headers stripped, src/core/models/mail-features.ts) and its Subject for the list the user
 * marks spam or not spam. No DOM, no Node: it runs wherever the core runs.
 */

import { stripHeaders } from './mail-features.ts';

export interface ImportedMail {
  /** The message as RFC 822 text (an mbox's "From " separator line removed, ">From " unescaped). */
  message: string;
  /** The Subject header, unfolded (RFC 2047 encoded words left as written); '' when none. */
  subject: string;
  /** Where it came from: the file name, and for an mbox the message's place in it ("box.mbox #3"). */
  source: string;
}

const MBOX_FROM = /^From \S/;
const HEADER_LINE = /^[A-Za-z][A-Za-z0-9-]*:[ \t]/;

/**
 * The body the mail model reads from what the user pasted or dropped: an RFC 822 message (its
 * first line a header, or an mbox "From " line) loses its headers as in the starter's training
 * (stripHeaders); a text without headers is read whole.
 */
export function mailBody(text: string): string {
  const first = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0];
  return HEADER_LINE.test(first) || MBOX_FROM.test(first) ? stripHeaders(text) : text;
}

/** Whether `text` is an mbox (its first non-empty line a "From " separator) rather than one message. */
export function isMbox(text: string): boolean {
  const first = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .find((l) => l.trim() !== '');
  return first !== undefined && MBOX_FROM.test(first);
}

/** The messages of an mbox, in order; empty messages (two separators in a row) are dropped. */
export function splitMbox(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const out: string[] = [];
  let cur: string[] | null = null;
  const flush = () => {
    if (!cur) return;
    while (cur.length && cur[cur.length - 1] === '') cur.pop();
    if (cur.some((l) => l.trim() !== '')) out.push(cur.join('\n'));
  };
  lines.forEach((line, i) => {
    if (MBOX_FROM.test(line) && (i === 0 || lines[i - 1] === '' || cur === null)) {
      flush();
      cur = [];
      return;
    }
    // mboxrd escapes every ">*From " body line by one more ">".
    if (cur) cur.push(/^>+From /.test(line) ? line.slice(1) : line);
  });
  flush();
  return out;
}

/** The Subject header of a message (folded lines joined), '' when it has none. */
export function mailSubject(message: string): string {
  const end = /\r?\n\r?\n/.exec(message);
  const head = end ? message.slice(0, end.index) : message;
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const m = /^subject:[ \t]*(.*)$/im.exec(unfolded);
  return m ? m[1].trim() : '';
}

/** The messages in one imported file: an mbox's messages, or the file as one message. */
export function readMailFile(name: string, text: string): ImportedMail[] {
  if (isMbox(text)) {
    return splitMbox(text).map((message, k) => ({ message, subject: mailSubject(message), source: `${name} #${k + 1}` }));
  }
  const message = text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
  return message.trim() === '' ? [] : [{ message, subject: mailSubject(message), source: name }];
}
