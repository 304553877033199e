/**
 * garden quantize MODEL.slm --scheme int8|int4 [--block N] --out FILE.slm [--graph-out FILE.onnx]
 * Quantize a model of a catalogued family (quantize operator, CPU reference) and give it the
 * species of its own quantized graph: the family graph rewritten to dequantize "<name>.q" +
 * "<name>.scales" in-graph (src/core/models/quantized-graph.ts), so it runs quantized.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CliError, type Command } from '../command.ts';
import { readSlm, writeSlm } from '../../src/core/format/slm.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { checkCatalog, type Catalog } from '../../src/core/models/catalog.ts';
import { isQuantizedModel, quantGraphOp, quantizeCandidate, QUANT_GRAPH_OPS, type QuantGraphOp } from '../../src/core/models/quantized-graph.ts';
import { quantScheme } from '../../src/core/operators/quantize.cpu.ts';
import { getOperator } from '../../src/core/operators/registry.ts';

const DEFAULT_CATALOG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public', 'starter', 'catalog.json');
const blockParam = getOperator('quantize').params.find((p) => p.name === 'blockSize') as { default: number; min: number; max: number };

const usage = `garden quantize MODEL.slm --scheme int8|int4 [--block N] --out FILE.slm [options]

Quantize every weight matrix (block-wise symmetric, one float32 scale per block along the last
dimension; 1-D tensors stay float) and write a candidate that runs quantized: its species binds the
family graph rewritten to dequantize the weights inside onnxruntime.

  --scheme S         int8 or int4
  --block N          weights per scale (default ${blockParam.default}, ${blockParam.min}…${blockParam.max})
  --out FILE.slm     the quantized candidate
  --graph-out FILE   also write its graph (ONNX, weights external)
  --op OP            how the graph dequantizes (default auto):
${Object.entries(QUANT_GRAPH_OPS).map(([k, v]) => `                       ${k}: ${v}`).join('\n')}
  --family ID        the model's family (default: found by its species)
  --catalog PATH     the starter catalog (default: public/starter/catalog.json)
  --json             print the result as JSON`;

function read(path: string, what: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      scheme: { type: 'string' },
      block: { type: 'string' },
      out: { type: 'string' },
      'graph-out': { type: 'string' },
      op: { type: 'string' },
      family: { type: 'string' },
      catalog: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new CliError(`expected one MODEL.slm, got ${positionals.length}; see garden quantize --help`);
  if (!values.scheme) throw new CliError('--scheme is required: int8 or int4');
  if (!values.out) throw new CliError('--out FILE.slm is required');
  let scheme;
  try {
    scheme = quantScheme(values.scheme);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  let op: QuantGraphOp;
  try {
    op = quantGraphOp(values.op ?? 'auto');
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const block = values.block === undefined ? blockParam.default : Number(values.block);
  if (!Number.isInteger(block) || block < blockParam.min || block > blockParam.max) {
    throw new CliError(`--block must be an integer in ${blockParam.min}…${blockParam.max}, got ${values.block}`);
  }

  const catalogPath = resolve(values.catalog ?? DEFAULT_CATALOG);
  let catalog: Catalog;
  try {
    catalog = checkCatalog(JSON.parse(readFileSync(catalogPath, 'utf8')));
  } catch (e) {
    throw new CliError(`cannot read catalog ${catalogPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (run "npm run starter" to build it)`);
  }
  const modelPath = positionals[0];
  const inBytes = read(modelPath, 'model');
  const slm = readSlm(inBytes);
  if (slm.shards !== 1) throw new CliError(`${modelPath} is shard ${slm.shard + 1} of ${slm.shards}; quantize takes single-file models`);
  if (isQuantizedModel(slm.tensors)) throw new CliError(`${modelPath} is already quantized`);
  const fam = values.family ? catalog.families.find((f) => f.id === values.family) : catalog.families.find((f) => f.species === slm.species);
  if (!fam) {
    throw new CliError(
      values.family
        ? `unknown family "${values.family}"; valid: ${catalog.families.map((f) => f.id).join(', ')}`
        : `model species ${slm.species} matches no family in the catalog; pass --family to name one`,
    );
  }
  if (slm.species !== fam.species) throw new CliError(`model species ${slm.species} is not family ${fam.id}'s species ${fam.species}`);
  const familyGraph = read(join(dirname(catalogPath), fam.graph), 'graph');
  if (sha256Hex(familyGraph) !== fam.graphHash) throw new CliError(`the ${fam.id} graph hashes to ${sha256Hex(familyGraph)} but the catalog pins ${fam.graphHash}`);

  let c;
  try {
    c = quantizeCandidate(familyGraph, slm.tensors, fam.output.labels, scheme, block, { op });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const bytes = writeSlm(c.tensors, {
    species: c.species,
    graph: c.graphHash,
    vocabulary: fam.output.labels,
    extra: { ...c.metadata, 'garden.operator': `quantize@${getOperator('quantize').version}`, 'garden.parent': slm.hash },
  });
  writeFileSync(values.out, bytes);
  if (values['graph-out']) writeFileSync(values['graph-out'], c.graph);
  const result = {
    path: values.out,
    hash: sha256Hex(bytes),
    bytes: bytes.length,
    parent: { path: modelPath, hash: slm.hash, bytes: inBytes.length },
    ratio: inBytes.length / bytes.length,
    scheme,
    blockSize: block,
    op: c.op,
    family: fam.id,
    species: c.species,
    graphHash: c.graphHash,
    graphPath: values['graph-out'] ?? null,
    tensors: c.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.data.length })),
  };
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
    return 0;
  }
  console.log(`candidate ${result.hash}  ${values.out}  ${scheme} block ${block} (${c.op})  ${bytes.length} bytes (${result.ratio.toFixed(2)}× smaller than ${inBytes.length})`);
  console.log(`species   ${c.species}  graph ${c.graphHash}${values['graph-out'] ? `  → ${values['graph-out']}` : ''}`);
  for (const t of result.tensors) console.log(`  ${t.name.padEnd(24)} ${t.dtype.padEnd(4)} [${t.shape.join(',')}]  ${t.bytes} B`);
  return 0;
}

const command: Command = { usage, run };
export default command;
