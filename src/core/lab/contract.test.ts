import { describe, expect, it } from 'vitest';
import {
  checkInput,
  checkOutput,
  contractVerb,
  parseContract,
  registryContract,
  requestCheck,
  verifyMet,
  ContractError,
} from './contract.ts';
import { ReleaseController } from './release.ts';
import { SelectorRouter } from './router.ts';
import { memoryLedger } from './test-helpers.ts';

const SMALL = `slot: s
verb classify:
  does: score three classes
    from four numbers.
  takes:
    x: float[4] in [0, 10]
  gives:
    y: float[3]
  before:
    - sum(x) > 0
  after:
    - finite(y)
    - max(y) <= 100
  fails when:
    - timeout: 200 ms
    - flat: spread(y) < 0.001
  verify:
    - test accuracy >= 0.9 over 50 requests
  risk: high
`;

function errorOf(text: string): ContractError {
  try {
    parseContract(text, 'c.contract');
  } catch (e) {
    if (e instanceof ContractError) return e;
    throw e;
  }
  throw new Error('parsed');
}

describe('slot contracts: parsing', () => {
  it('parses every section of a verb', () => {
    const c = parseContract(SMALL);
    const v = contractVerb(c);
    expect(c.slot).toBe('s');
    expect(v).toMatchObject({
      name: 'classify',
      does: 'score three classes from four numbers.',
      takes: { name: 'x', type: 'float', length: 4, range: [0, 10], line: 6 },
      gives: { name: 'y', type: 'float', length: 3, range: null, line: 8 },
      timeoutMs: 200,
      compare: 'argmax',
      risk: 'high',
    });
    expect(v.before).toEqual([
      { text: 'sum(x) > 0', line: 10, condition: { op: 'compare', fn: 'sum', field: 'x', cmp: '>', value: 0, tolerance: 0 } },
    ]);
    expect(v.after.map((r) => r.line)).toEqual([12, 13]);
    expect(v.failsWhen).toEqual([
      {
        label: 'flat',
        text: 'spread(y) < 0.001',
        line: 16,
        condition: { op: 'compare', fn: 'spread', field: 'y', cmp: '<', value: 0.001, tolerance: 0 },
      },
    ]);
    expect(v.verify).toEqual([
      { suite: 'test', metric: 'accuracy', cmp: '>=', value: 0.9, window: { size: 50, unit: 'requests' }, line: 18 },
    ]);
    expect(registryContract(v)).toEqual({ inputLength: 4, outputLength: 3, timeoutMs: 200, compare: 'argmax' });
  });

  it.each([
    [SMALL.replace('  takes:', '  take:'), 5, 'unknown key "take"; valid: does, takes'],
    [SMALL.replace('    - sum(x) > 0', '    - sum(z) > 0'), 10, 'unknown field "z"; fields here: x'],
    [SMALL.replace('    - max(y) <= 100', '    - max(x) <= 100 extra'), 13, 'unexpected "extra"'],
    [SMALL.replace('    - max(y) <= 100', '    - median(y) <= 1'), 13, 'unknown function "median"'],
    [SMALL.replace('  risk: high', '  risk: huge'), 19, 'risk "huge" is unknown; valid: none, low, medium, high, critical'],
    [SMALL.replace('    - timeout: 200 ms\n', ''), 14, 'has no timeout'],
    [SMALL.replace('float[4] in [0, 10]', 'float[4] in [10, 0]'), 6, 'the range of field "x" is empty'],
    [SMALL.replace('float[4]', 'double[4]'), 6, 'field type "double" is unknown; valid: float, int'],
    [SMALL.replace('over 50 requests', 'over 50 weeks'), 18, 'window unit "weeks" is unknown'],
    [SMALL.replace('  gives:\n    y: float[3]\n', '  gives:\n    y: float[3]\n    z: float[3]\n'), 7, 'has 2 fields'],
    [SMALL.replace('  risk: high', '  risk: high\n  risk: low'), 20, 'key "risk" appears twice in verb "classify" (first on line 19)'],
    [SMALL.replace('slot: s', 'slot: s\n\tverb'), 2, 'indent with spaces, not tabs'],
    [SMALL.replace('slot: s\n', ''), 1, 'names no slot'],
    [SMALL.replace('    - max(y) <= 100', '    - max(y) < 100 ± 1'), 13, 'a tolerance (±) goes with == or != only'],
  ])('refuses a broken contract with its line (%#)', (text, line, msg) => {
    const e = errorOf(text);
    expect(e.line).toBe(line);
    expect(e.message).toContain(`c.contract line ${line}: `);
    expect(e.message).toContain(msg);
  });

  it('ignores full-line comments and blank lines, and counts lines as the file does', () => {
    const c = parseContract(`# a comment\n\n${SMALL.replace('  risk: high', '  # a note\n  risk: high')}`);
    expect(contractVerb(c).takes.line).toBe(8);
  });
});

describe('slot contracts: checks', () => {
  const v = contractVerb(parseContract(SMALL));
  it('checks the input against takes (length, range) and before', () => {
    expect(checkInput(v, [1, 2, 3, 4])).toBeNull();
    expect(checkInput(v, [1, 2, 3])).toMatchObject({ line: 6, section: 'takes', detail: 'x has 3 values; the contract says 4' });
    expect(checkInput(v, [1, 2, 11, 4])).toMatchObject({ line: 6, detail: 'x[2] is 11, outside [0, 10]' });
    expect(checkInput(v, [0, 0, 0, 0])).toMatchObject({ line: 10, section: 'before', rule: 'sum(x) > 0', detail: 'sum(x) is 0' });
  });

  it('checks the output against gives, after and each failure mode', () => {
    const x = [1, 2, 3, 4];
    expect(checkOutput(v, x, [0, 1, 2])).toBeNull();
    expect(checkOutput(v, x, [0, 1])).toMatchObject({ section: 'gives', line: 8 });
    expect(checkOutput(v, x, [0, 1, 200])).toMatchObject({ section: 'after', line: 13, detail: 'max(y) is 200' });
    expect(checkOutput(v, x, [1, 1, 1])).toMatchObject({ section: 'fails when', line: 16, rule: 'flat: spread(y) < 0.001' });
  });

  it("judges the verify lines on a model's suite scores, with the window reported", () => {
    const verify = contractVerb(parseContract(SMALL)).verify;
    expect(verifyMet(verify, () => 0.95)).toEqual({ passed: 1, total: 1, lines: ['test accuracy 0.9500 meets >= 0.9 (over 50 requests)'] });
    expect(verifyMet(verify, (suite, metric) => (suite === 'test' && metric === 'accuracy' ? 0.85 : 1))).toMatchObject({
      passed: 0,
      lines: ['test accuracy 0.8500 misses >= 0.9 (over 50 requests)'],
    });
    expect(verifyMet(verify, () => null).lines).toEqual(['test accuracy no score misses >= 0.9 (over 50 requests)']);
  });

  it('ints, tolerances, element-wise and range conditions', () => {
    const c = contractVerb(
      parseContract(
        `slot: t\nverb v:\n  does: d\n  takes:\n    ids: int[2] in [0, 5]\n  gives:\n    p: float[2]\n  after:\n    - sum(p) == 1 ± 0.01\n    - p >= 0\n    - argmax(p) in [0, 0]\n  fails when:\n    - timeout: 5 ms\n  risk: none\n`,
      ),
    );
    expect(checkInput(c, [1, 2])).toBeNull();
    expect(checkInput(c, [1, 2.5])).toMatchObject({ detail: 'ids[1] is 2.5, not an integer' });
    expect(checkOutput(c, [1, 2], [0.6, 0.395])).toBeNull();
    expect(checkOutput(c, [1, 2], [0.6, 0.3])).toMatchObject({ line: 9, detail: 'sum(p) is 0.8999999999999999' });
    expect(checkOutput(c, [1, 2], [1.2, -0.2])).toMatchObject({ line: 10, detail: 'p[1] is -0.2' });
    expect(checkOutput(c, [1, 2], [0.4, 0.6])).toMatchObject({ line: 11, detail: 'argmax(p) is 1' });
  });
});

describe('slot contracts: the router checks them at every request', () => {
  async function router(invoke: (m: string, x: Float32Array) => Promise<ArrayLike<number>>) {
    const v = contractVerb(parseContract(SMALL));
    const { ledger } = await memoryLedger();
    const release = ReleaseController.open(ledger);
    await release.createSlot('s', registryContract(v), 'A', ['B']);
    return { ledger, release, router: new SelectorRouter({ invoke, release, contracts: { s: requestCheck(v) } }) };
  }

  it('an output that breaks the contract falls to the next model; three in a row demote', async () => {
    const { router: r, release } = await router(async (m) => (m === 'A' ? [5, 5, 5] : [0, 1, 2]));
    const res = await r.route('s', 'q1', Float32Array.from([1, 2, 3, 4]));
    expect(res.answeredBy).toBe('B');
    expect(res.attempts[0]).toMatchObject({ model: 'A', ok: false, failure: 'contract' });
    expect(res.attempts[0].detail).toBe('contract line 16 (fails when flat: spread(y) < 0.001): spread(y) is 0');
    await r.route('s', 'q2', Float32Array.from([1, 2, 3, 4]));
    const third = await r.route('s', 'q3', Float32Array.from([1, 2, 3, 4]));
    expect(third.demoted).toEqual(['A']);
    expect(release.current('s').champion).toBe('B');
  });

  it('an input that breaks the contract is refused before any model runs', async () => {
    let calls = 0;
    const { router: r } = await router(async () => (calls++, [0, 1, 2]));
    await expect(r.route('s', 'q', Float32Array.from([0, 0, 0, 0]))).rejects.toThrow(
      'request q breaks the slot contract: contract line 10 (before sum(x) > 0): sum(x) is 0',
    );
    await expect(r.route('s', 'q', Float32Array.from([0, 0, 99, 0]))).rejects.toThrow('x[2] is 99, outside [0, 10]');
    expect(calls).toBe(0);
  });
});
