/**
 * The one helper for printing a name a file chose (tensor names, ledger fields, labels): control
 * characters, escape codes, newlines, line/paragraph separators and bidirectional overrides are
 * written as visible escapes (\n, \x1b, \u202e), and a backslash as \\, so a printed line is one
 * line, cannot recolour or move the terminal, and reads unambiguously.
 */
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

function unsafe(c: number): boolean {
  return (
    c < 0x20 ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x2028 ||
    c === 0x2029 ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069) ||
    c === 0x200e ||
    c === 0x200f ||
    c === 0x061c ||
    c === 0xfeff ||
    (c >= 0xd800 && c <= 0xdfff)
  );
}

export function printable(s: string): string {
  let out = '';
  for (const ch of String(s)) {
    const c = ch.codePointAt(0)!;
    if (NAMED[ch]) out += NAMED[ch];
    else if (!unsafe(c)) out += ch;
    else if (c <= 0xff) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return out;
}
