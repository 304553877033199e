import { describe, expect, it } from 'vitest';
import { isMbox, mailSubject, readMailFile, splitMbox } from './mail-import.ts';
import { mailFeatures, stripHeaders } from './mail-features.ts';

const ONE = 'From: a@example.org\r\nSubject: Cheap\r\n  pills now\r\nTo: b@example.org\r\n\r\nBuy them.\r\nFrom here on, cheap.\r\n';

const BOX = [
  'From a@example.org Mon Jan  1 00:00:00 2024',
  'Subject: first',
  '',
  'hello there',
  '>From the mbox: an escaped line',
  '',
  'From b@example.org Tue Jan  2 00:00:00 2024',
  'Subject: second',
  '',
  'body',
  'From here the body goes on (no empty line before: not a separator)',
  '>>From twice escaped',
  '',
  'From c@example.org Wed Jan  3 00:00:00 2024',
  '',
  'From d@example.org Thu Jan  4 00:00:00 2024',
  'Subject: fourth',
  '',
  'last',
  '',
].join('\n');

describe('mail import', () => {
  it('reads an .eml as one message with its unfolded subject, CRLF made LF', () => {
    const [m, ...rest] = readMailFile('x.eml', ONE);
    expect(rest).toEqual([]);
    expect(m.subject).toBe('Cheap pills now');
    expect(m.source).toBe('x.eml');
    expect(m.message).not.toContain('\r');
    expect(stripHeaders(m.message)).toBe('Buy them.\nFrom here on, cheap.\n');
    expect(isMbox(ONE)).toBe(false);
  });

  it('splits an mbox at separators after an empty line, unescapes >From and drops empty messages', () => {
    expect(isMbox(BOX)).toBe(true);
    const parts = splitMbox(BOX);
    expect(parts).toHaveLength(3);
    expect(parts[0]).toBe('Subject: first\n\nhello there\nFrom the mbox: an escaped line');
    expect(parts[1]).toContain('\nFrom here the body goes on');
    expect(parts[1]).toContain('\n>From twice escaped');
    const read = readMailFile('box.mbox', BOX);
    expect(read.map((r) => [r.subject, r.source])).toEqual([
      ['first', 'box.mbox #1'],
      ['second', 'box.mbox #2'],
      ['fourth', 'box.mbox #3'],
    ]);
  });

  it('gives the model the same input for a message whether it came as .eml or inside an mbox', () => {
    const eml = 'Subject: same\n\nwin a prize today\n';
    const box = `From x@y Mon Jan  1 00:00:00 2024\n${eml}\nFrom z@y Mon Jan  1 00:00:00 2024\nSubject: other\n\nhi\n`;
    const a = readMailFile('a.eml', eml)[0];
    const b = readMailFile('b.mbox', box)[0];
    expect(Array.from(mailFeatures(stripHeaders(b.message)))).toEqual(Array.from(mailFeatures(stripHeaders(a.message))));
  });

  it('has no subject when the header is missing and nothing for an empty file', () => {
    expect(mailSubject('To: a\n\nSubject: in the body\n')).toBe('');
    expect(readMailFile('e.eml', '  \n')).toEqual([]);
    expect(readMailFile('e.mbox', '')).toEqual([]);
  });
});
