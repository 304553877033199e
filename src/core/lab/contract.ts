/**
 * Slot contracts: what a domain expert expects of any model that answers a task slot, written as
 * text (a gene contract in verb sections) and checked at every request by the router.
 *
 *   slot: digits
 *
 *   verb classify:
 *     does: Read a 28×28 handwritten digit, given as 784 grey levels between 0 and 1,
 *       and say which of the ten digits it shows.
 *     takes:
 *       pixels: float[784] in [0, 1]
 *     gives:
 *       logits: float[10]
 *     before:
 *       - length(pixels) == 784
 *     after:
 *       - finite(logits)
 *     fails when:
 *       - timeout: 10000 ms
 *       - flat answer: spread(logits) < 0.000001
 *     verify:
 *       - digits-test accuracy >= 0.85 over 500 requests
 *     shadow agrees on: argmax
 *     risk: low
 *
 * Keys of a verb: `does` (prose; continues on more-indented lines), `takes` / `gives` (typed
 * fields `name: float[N]` or `int[N]`, optionally `in [lo, hi]` for every element), `before` /
 * `after` (invariants on the input, and on input and output), `fails when` (a `timeout: N ms` and
 * named failure modes `label: condition`: the output fails when the condition holds), `verify`
 * (suites with a window: `SUITE METRIC CMP VALUE over N requests|days`), `shadow agrees on`
 * (argmax | exact, default argmax) and `risk` (a blast-radius class). Full-line comments start
 * with `#`. Conditions: `finite(f)`, `FN(f) CMP NUMBER [± TOL]`, `FN(f) in [lo, hi]`, and on a bare
 * field `f CMP NUMBER` / `f in [lo, hi]` for every element; FN is one of length, min, max, sum,
 * mean, spread (max − min), argmax. The router carries one input array and one output array, so a
 * verb takes one field and gives one. Every error names its line.
 */
import type { SlotContract } from '../manifest/kinds.ts';

export const RISK_CLASSES = Object.freeze(['none', 'low', 'medium', 'high', 'critical'] as const);
export type RiskClass = (typeof RISK_CLASSES)[number];

export const FIELD_TYPES = Object.freeze(['float', 'int'] as const);
export type FieldType = (typeof FIELD_TYPES)[number];

export const CONTRACT_FUNCTIONS = Object.freeze(['length', 'min', 'max', 'sum', 'mean', 'spread', 'argmax'] as const);
export type ContractFunction = (typeof CONTRACT_FUNCTIONS)[number];

export const COMPARATORS = Object.freeze(['==', '!=', '<=', '>=', '<', '>'] as const);
export type Comparator = (typeof COMPARATORS)[number];

export const VERB_KEYS = Object.freeze([
  'does',
  'takes',
  'gives',
  'before',
  'after',
  'fails when',
  'verify',
  'shadow agrees on',
  'risk',
] as const);
export type VerbKey = (typeof VERB_KEYS)[number];

export const WINDOW_UNITS = Object.freeze(['requests', 'days'] as const);

export interface Field {
  name: string;
  type: FieldType;
  length: number;
  range: [number, number] | null;
  line: number;
}

/** A parsed condition. `fn: null` applies the comparison to every element of the field. */
export type Condition =
  | { op: 'finite'; field: string }
  | { op: 'compare'; fn: ContractFunction | null; field: string; cmp: Comparator; value: number; tolerance: number }
  | { op: 'range'; fn: ContractFunction | null; field: string; lo: number; hi: number };

export interface Rule {
  text: string;
  line: number;
  condition: Condition;
}

export interface FailureMode extends Rule {
  label: string;
}

export interface VerifySuite {
  suite: string;
  metric: string;
  cmp: Comparator;
  value: number;
  window: { size: number; unit: (typeof WINDOW_UNITS)[number] };
  line: number;
}

export interface ContractVerb {
  name: string;
  line: number;
  does: string;
  takes: Field;
  gives: Field;
  before: Rule[];
  after: Rule[];
  timeoutMs: number;
  failsWhen: FailureMode[];
  verify: VerifySuite[];
  compare: SlotContract['compare'];
  risk: RiskClass;
}

export interface Contract {
  slot: string;
  verbs: ContractVerb[];
}

export class ContractError extends Error {
  override name = 'ContractError';
  constructor(
    readonly source: string,
    readonly line: number,
    message: string,
  ) {
    super(`${source} line ${line}: ${message}`);
  }
}

interface Line {
  n: number;
  indent: number;
  text: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const list = (xs: readonly string[]) => xs.join(', ');

/** Parse a contract's text; `source` names it in errors (a file name). */
export function parseContract(text: string, source = 'contract'): Contract {
  const fail = (n: number, msg: string): never => {
    throw new ContractError(source, n, msg);
  };
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const n = i + 1;
    const lead = /^[ \t]*/.exec(raw)![0];
    if (lead.includes('\t')) fail(n, 'indent with spaces, not tabs');
    const body = raw.slice(lead.length).trimEnd();
    if (body === '' || body.startsWith('#')) return;
    lines.push({ n, indent: lead.length, text: body });
  });

  let slot: string | null = null;
  const verbs: ContractVerb[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i];
    if (l.indent !== 0) fail(l.n, 'expected "slot: NAME" or "verb NAME:" at the start of the line');
    const s = /^slot:\s*(.*)$/.exec(l.text);
    const v = /^verb\s+(.*?):$/.exec(l.text);
    if (s) {
      if (slot !== null) fail(l.n, 'the slot is named twice');
      if (!NAME.test(s[1])) fail(l.n, `slot name ${JSON.stringify(s[1])} must be letters, digits, "-" or "_"`);
      slot = s[1];
      i++;
    } else if (v) {
      if (!NAME.test(v[1])) fail(l.n, `verb name ${JSON.stringify(v[1])} must be letters, digits, "-" or "_"`);
      if (verbs.some((x) => x.name === v[1])) fail(l.n, `verb "${v[1]}" is defined twice`);
      let end = i + 1;
      while (end < lines.length && lines[end].indent > 0) end++;
      verbs.push(parseVerb(v[1], l.n, lines.slice(i + 1, end), fail));
      i = end;
    } else {
      fail(l.n, `expected "slot: NAME" or "verb NAME:", got ${JSON.stringify(l.text)}`);
    }
  }
  if (slot === null) fail(lines[0]?.n ?? 1, 'the contract names no slot (add "slot: NAME")');
  if (!verbs.length) fail(lines[lines.length - 1].n, 'the contract has no verb (add "verb NAME:" and its keys)');
  return { slot: slot!, verbs };
}

type Fail = (n: number, msg: string) => never;

function parseVerb(name: string, line: number, body: Line[], fail: Fail): ContractVerb {
  if (!body.length) fail(line, `verb "${name}" has no keys; expected ${list(VERB_KEYS)}`);
  const keyIndent = body[0].indent;
  const sections = new Map<VerbKey, { line: number; inline: string; children: Line[] }>();
  for (let i = 0; i < body.length;) {
    const l = body[i];
    if (l.indent !== keyIndent) fail(l.n, `expected a key of verb "${name}" at indent ${keyIndent}, got indent ${l.indent}`);
    const m = /^([a-z][a-z ]*?):(?:\s+(.*))?$/.exec(l.text);
    if (!m) fail(l.n, `expected "KEY:" (one of ${list(VERB_KEYS)}), got ${JSON.stringify(l.text)}`);
    const key = m![1] as VerbKey;
    if (!(VERB_KEYS as readonly string[]).includes(key)) fail(l.n, `unknown key "${m![1]}"; valid: ${list(VERB_KEYS)}`);
    if (sections.has(key)) fail(l.n, `key "${key}" appears twice in verb "${name}" (first on line ${sections.get(key)!.line})`);
    let end = i + 1;
    while (end < body.length && body[end].indent > keyIndent) end++;
    sections.set(key, { line: l.n, inline: m![2] ?? '', children: body.slice(i + 1, end) });
    i = end;
  }
  const need = (key: VerbKey) => sections.get(key) ?? fail(line, `verb "${name}" has no "${key}:"`);
  const items = (key: VerbKey): Line[] => {
    const s = sections.get(key);
    if (!s) return [];
    if (s.inline) fail(s.line, `"${key}:" takes its items on the lines below it, one "- …" per line`);
    if (!s.children.length) fail(s.line, `"${key}:" is empty`);
    const ind = s.children[0].indent;
    return s.children.map((c) => {
      if (c.indent !== ind) fail(c.n, `items of "${key}:" must line up at indent ${ind}`);
      return { ...c, text: c.text.replace(/^-\s+/, '') };
    });
  };

  const doesSec = need('does');
  const does = [doesSec.inline, ...doesSec.children.map((c) => c.text)].filter(Boolean).join(' ');
  if (!does) fail(doesSec.line, '"does:" needs a sentence saying what the verb does');

  const field = (key: 'takes' | 'gives'): Field => {
    need(key);
    const fs = items(key).map(parseField(fail));
    if (fs.length !== 1)
      fail(
        sections.get(key)!.line,
        `"${key}:" has ${fs.length} fields; the router carries one ${key === 'takes' ? 'input' : 'output'} array, so give exactly one`,
      );
    return fs[0];
  };
  const takes = field('takes');
  const gives = field('gives');
  if (takes.name === gives.name) fail(gives.line, `the output field has the input's name "${takes.name}"`);

  const rules = (key: 'before' | 'after', fields: Field[]): Rule[] =>
    items(key).map((l) => ({ text: l.text, line: l.n, condition: parseCondition(l.text, l.n, fields, fail) }));
  const before = rules('before', [takes]);
  const after = rules('after', [takes, gives]);

  let timeoutMs: number | null = null;
  const failsWhen: FailureMode[] = [];
  for (const l of items('fails when')) {
    const m = /^([^:]+):\s*(.+)$/.exec(l.text);
    if (!m) fail(l.n, `a failure mode is "LABEL: CONDITION" or "timeout: N ms", got ${JSON.stringify(l.text)}`);
    const label = m![1].trim();
    if (label === 'timeout') {
      const t = /^(\d+)\s*ms$/.exec(m![2].trim());
      if (!t || Number(t[1]) < 1)
        fail(l.n, `timeout must be a whole number of milliseconds ≥ 1, like "timeout: 10000 ms"; got ${JSON.stringify(m![2])}`);
      if (timeoutMs !== null) fail(l.n, 'the timeout is given twice');
      timeoutMs = Number(t![1]);
      continue;
    }
    failsWhen.push({ label, text: m![2].trim(), line: l.n, condition: parseCondition(m![2].trim(), l.n, [takes, gives], fail) });
  }
  if (timeoutMs === null)
    fail(sections.get('fails when')?.line ?? line, `verb "${name}" has no timeout; add "- timeout: N ms" under "fails when:"`);

  const verify = items('verify').map((l): VerifySuite => {
    const m = /^(\S+)\s+(\S+)\s+(==|!=|<=|>=|<|>)\s+(\S+)\s+over\s+(\d+)\s+(\S+)$/.exec(l.text);
    if (!m) fail(l.n, `a verify line is "SUITE METRIC CMP VALUE over N requests|days", got ${JSON.stringify(l.text)}`);
    if (!NUMBER.test(m![4])) fail(l.n, `verify value ${JSON.stringify(m![4])} is not a number`);
    if (!(WINDOW_UNITS as readonly string[]).includes(m![6])) fail(l.n, `window unit "${m![6]}" is unknown; valid: ${list(WINDOW_UNITS)}`);
    if (Number(m![5]) < 1) fail(l.n, 'a verify window must hold at least 1');
    return {
      suite: m![1],
      metric: m![2],
      cmp: m![3] as Comparator,
      value: Number(m![4]),
      window: { size: Number(m![5]), unit: m![6] as VerifySuite['window']['unit'] },
      line: l.n,
    };
  });

  const inline = (key: VerbKey, valid: readonly string[], dflt?: string): string => {
    const s = sections.get(key);
    if (!s) return dflt ?? fail(line, `verb "${name}" has no "${key}:"; valid values: ${list(valid)}`);
    if (s.children.length) fail(s.children[0].n, `"${key}:" takes one value on its own line`);
    if (!valid.includes(s.inline)) fail(s.line, `${key} "${s.inline}" is unknown; valid: ${list(valid)}`);
    return s.inline;
  };
  const compare = inline('shadow agrees on', ['argmax', 'exact'], 'argmax') as SlotContract['compare'];
  const risk = inline('risk', RISK_CLASSES) as RiskClass;
  return { name, line, does, takes, gives, before, after, timeoutMs: timeoutMs!, failsWhen, verify, compare, risk };
}

function parseField(fail: Fail) {
  return (l: Line): Field => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*):\s*([a-z]+)\[(\d+)\](?:\s+in\s+\[\s*(\S+)\s*,\s*(\S+)\s*\])?$/.exec(l.text);
    if (!m)
      fail(l.n, `a field is "NAME: TYPE[N]" or "NAME: TYPE[N] in [LO, HI]" (TYPE: ${list(FIELD_TYPES)}), got ${JSON.stringify(l.text)}`);
    const [, name, type, len, lo, hi] = m!;
    if (!(FIELD_TYPES as readonly string[]).includes(type)) fail(l.n, `field type "${type}" is unknown; valid: ${list(FIELD_TYPES)}`);
    if (Number(len) < 1) fail(l.n, `field "${name}" must hold at least one value`);
    let range: [number, number] | null = null;
    if (lo !== undefined) {
      if (!NUMBER.test(lo) || !NUMBER.test(hi)) fail(l.n, `the range of field "${name}" must be two numbers`);
      range = [Number(lo), Number(hi)];
      if (range[0] > range[1]) fail(l.n, `the range of field "${name}" is empty: ${lo} > ${hi}`);
    }
    return { name, type: type as FieldType, length: Number(len), range, line: l.n };
  };
}

/** Parse one condition (the small grammar in the header). */
export function parseCondition(text: string, n: number, fields: readonly Field[], fail: Fail): Condition {
  const tokens = text.match(/±|\+-|==|!=|<=|>=|[<>()[\],]|[^\s±<>=!()[\],]+/g) ?? [];
  let p = 0;
  const peek = () => tokens[p];
  const take = (what: string): string => {
    const t = tokens[p++];
    if (t === undefined) fail(n, `condition ${JSON.stringify(text)} ends early; expected ${what}`);
    return t!;
  };
  const expect = (t: string) => {
    const got = take(`"${t}"`);
    if (got !== t) fail(n, `condition ${JSON.stringify(text)}: expected "${t}", got "${got}"`);
  };
  const num = (): number => {
    const t = take('a number');
    if (!NUMBER.test(t)) fail(n, `condition ${JSON.stringify(text)}: "${t}" is not a number`);
    return Number(t);
  };
  const fieldName = (): string => {
    const t = take('a field name');
    if (!fields.some((f) => f.name === t))
      fail(n, `condition ${JSON.stringify(text)}: unknown field "${t}"; fields here: ${list(fields.map((f) => f.name))}`);
    return t;
  };
  const done = (c: Condition): Condition => {
    if (p < tokens.length) fail(n, `condition ${JSON.stringify(text)}: unexpected "${tokens[p]}" after the end`);
    return c;
  };

  const head = take('a condition');
  if (head === 'finite') {
    expect('(');
    const field = fieldName();
    expect(')');
    return done({ op: 'finite', field });
  }
  let fn: ContractFunction | null = null;
  let field: string;
  if (tokens[p] === '(') {
    if (!(CONTRACT_FUNCTIONS as readonly string[]).includes(head))
      fail(n, `condition ${JSON.stringify(text)}: unknown function "${head}"; valid: finite, ${list(CONTRACT_FUNCTIONS)}`);
    fn = head as ContractFunction;
    p++;
    field = fieldName();
    expect(')');
  } else {
    p--;
    field = fieldName();
  }
  const op = take('a comparison (==, !=, <, <=, >, >=) or "in [LO, HI]"');
  if (op === 'in') {
    expect('[');
    const lo = num();
    expect(',');
    const hi = num();
    expect(']');
    if (lo > hi) fail(n, `condition ${JSON.stringify(text)}: the range is empty (${lo} > ${hi})`);
    return done({ op: 'range', fn, field, lo, hi });
  }
  if (!(COMPARATORS as readonly string[]).includes(op))
    fail(n, `condition ${JSON.stringify(text)}: "${op}" is not a comparison; valid: ${list(COMPARATORS)}, in`);
  const value = num();
  let tolerance = 0;
  if (peek() === '±' || peek() === '+-') {
    p++;
    if (op !== '==' && op !== '!=') fail(n, `condition ${JSON.stringify(text)}: a tolerance (±) goes with == or != only`);
    tolerance = num();
    if (tolerance < 0) fail(n, `condition ${JSON.stringify(text)}: the tolerance must be ≥ 0`);
  }
  return done({ op: 'compare', fn, field, cmp: op as Comparator, value, tolerance });
}

function apply(fn: ContractFunction, x: ArrayLike<number>): number {
  if (fn === 'length') return x.length;
  if (x.length === 0) return NaN;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let best = 0;
  for (let i = 0; i < x.length; i++) {
    min = Math.min(min, x[i]);
    max = Math.max(max, x[i]);
    sum += x[i];
    if (x[i] > x[best]) best = i;
  }
  return { min, max, sum, mean: sum / x.length, spread: max - min, argmax: best }[fn];
}

function compare(a: number, cmp: Comparator, b: number, tol: number): boolean {
  switch (cmp) {
    case '==':
      return Math.abs(a - b) <= tol;
    case '!=':
      return Math.abs(a - b) > tol;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

/**
 * Which of a verb's verify lines a model meets, from its score on each line's suite and metric
 * (`score` returns null when the model has none). The window (N requests or days) is reported, not
 * waited for: the caller judges when it has watched long enough.
 */
export function verifyMet(
  verify: readonly VerifySuite[],
  score: (suite: string, metric: string) => number | null,
): { passed: number; total: number; lines: string[] } {
  const lines = verify.map((v) => {
    const x = score(v.suite, v.metric);
    const ok = x !== null && compare(x, v.cmp, v.value, 0);
    const got = x === null ? 'no score' : x.toFixed(4);
    return {
      ok,
      text: `${v.suite} ${v.metric} ${got} ${ok ? 'meets' : 'misses'} ${v.cmp} ${v.value} (over ${v.window.size} ${v.window.unit})`,
    };
  });
  return { passed: lines.filter((l) => l.ok).length, total: lines.length, lines: lines.map((l) => l.text) };
}

/** Does the condition hold? On failure, the first value that broke it. */
export function evaluateCondition(c: Condition, values: Readonly<Record<string, ArrayLike<number>>>): { holds: boolean; detail: string } {
  const x = values[c.field];
  if (c.op === 'finite') {
    for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return { holds: false, detail: `${c.field}[${i}] is ${x[i]}` };
    return { holds: true, detail: '' };
  }
  const test = (v: number) => (c.op === 'range' ? v >= c.lo && v <= c.hi : compare(v, c.cmp, c.value, c.tolerance));
  if (c.fn) {
    const v = apply(c.fn, x);
    return { holds: test(v), detail: `${c.fn}(${c.field}) is ${v}` };
  }
  for (let i = 0; i < x.length; i++) if (!test(x[i])) return { holds: false, detail: `${c.field}[${i}] is ${x[i]}` };
  return { holds: true, detail: '' };
}

export interface Violation {
  /** The contract line of the broken rule. */
  line: number;
  /** takes / gives (type or range), before, after, fails when. */
  section: 'takes' | 'gives' | 'before' | 'after' | 'fails when';
  rule: string;
  detail: string;
}

/** Format a violation as one line: `line 12 (after finite(logits)): logits[3] is NaN`. */
export function describeViolation(v: Violation): string {
  return `contract line ${v.line} (${v.section} ${v.rule}): ${v.detail}`;
}

function checkField(f: Field, x: ArrayLike<number>, section: 'takes' | 'gives'): Violation | null {
  const rule = `${f.name}: ${f.type}[${f.length}]${f.range ? ` in [${f.range[0]}, ${f.range[1]}]` : ''}`;
  const v = (detail: string): Violation => ({ line: f.line, section, rule, detail });
  if (x.length !== f.length) return v(`${f.name} has ${x.length} values; the contract says ${f.length}`);
  for (let i = 0; i < x.length; i++) {
    const e = x[i];
    if (typeof e !== 'number' || Number.isNaN(e)) return v(`${f.name}[${i}] is ${String(e)}, not a number`);
    if (f.type === 'int' && !Number.isInteger(e)) return v(`${f.name}[${i}] is ${e}, not an integer`);
    if (f.range && !(e >= f.range[0] && e <= f.range[1])) return v(`${f.name}[${i}] is ${e}, outside [${f.range[0]}, ${f.range[1]}]`);
  }
  return null;
}

/** Check a request's input against the verb's `takes` and `before`; the first violation, or null. */
export function checkInput(verb: ContractVerb, input: ArrayLike<number>): Violation | null {
  const bad = checkField(verb.takes, input, 'takes');
  if (bad) return bad;
  for (const r of verb.before) {
    const h = evaluateCondition(r.condition, { [verb.takes.name]: input });
    if (!h.holds) return { line: r.line, section: 'before', rule: r.text, detail: h.detail };
  }
  return null;
}

/**
 * Check a model's output against the verb's `gives`, `after` and `fails when`: the first
 * violation, or null. A failure mode is a violation when its condition holds.
 */
export function checkOutput(verb: ContractVerb, input: ArrayLike<number>, output: ArrayLike<number>): Violation | null {
  const bad = checkField(verb.gives, output, 'gives');
  if (bad) return bad;
  const values = { [verb.takes.name]: input, [verb.gives.name]: output };
  for (const r of verb.after) {
    const h = evaluateCondition(r.condition, values);
    if (!h.holds) return { line: r.line, section: 'after', rule: r.text, detail: h.detail };
  }
  for (const m of verb.failsWhen) {
    const h = evaluateCondition(m.condition, values);
    if (h.holds) return { line: m.line, section: 'fails when', rule: `${m.label}: ${m.text}`, detail: h.detail || `${m.label}` };
  }
  return null;
}

/** A verb of a contract by name (default: the first). */
export function contractVerb(contract: Contract, name?: string): ContractVerb {
  const v = name === undefined ? contract.verbs[0] : contract.verbs.find((x) => x.name === name);
  if (!v)
    throw new ContractError(
      'contract',
      1,
      `slot "${contract.slot}" has no verb "${name}"; verbs: ${list(contract.verbs.map((x) => x.name))}`,
    );
  return v;
}

/** The selector registry's contract (shapes, timeout, shadow comparison) that a verb implies. */
export function registryContract(verb: ContractVerb): SlotContract {
  return { inputLength: verb.takes.length, outputLength: verb.gives.length, timeoutMs: verb.timeoutMs, compare: verb.compare };
}

/** What the router checks at every request: a message for a broken input or output, or null. */
export interface RequestCheck {
  input(x: ArrayLike<number>): string | null;
  output(x: ArrayLike<number>, y: ArrayLike<number>): string | null;
}

/** The router's check for one verb of a contract. */
export function requestCheck(verb: ContractVerb): RequestCheck {
  return {
    input: (x) => {
      const v = checkInput(verb, x);
      return v && describeViolation(v);
    },
    output: (x, y) => {
      const v = checkOutput(verb, x, y);
      return v && describeViolation(v);
    },
  };
}
