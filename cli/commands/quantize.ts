/**
 * garden quantize MODEL.slm --scheme int8|int4 [--block N] --out FILE.slm [--graph-out FILE.onnx]
 * Quantize a model of a catalogued family (quantize operator through breed(), CPU reference) and
 * write it with the one candidate writer (candidateSlm, given the family graph): it gets the
 * species of its own quantized graph, the family graph rewritten to dequantize "<name>.q" +
 * "<name>.scales" in-graph (src/core/models/quantized-graph.ts), so it runs quantized. The bytes
 * are those `garden breed --family` and the app write for the same quantization and seed.
 */
import { resolve } from 'node:path';
import { CliError, type Command } from '../command.ts';
import { checkSlmMetadata, readSlm } from '../../src/core/format/slm.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  isQuantizedModel,
  quantGraphOp,
  recordedQuantGraphOp,
  QUANT_GRAPH_OPS,
  type QuantGraphOp,
} from '../../src/core/models/quantized-graph.ts';
import { QUANT_SUFFIX, quantScheme, type QuantScheme } from '../../src/core/operators/quantize.cpu.ts';
import { getOperator } from '../../src/core/operators/registry.ts';
import { breed } from '../../src/core/operators/breed.ts';
import { cpuBackend } from '../../src/core/operators/backend.ts';
import { candidateSlm } from '../../src/core/operators/candidate.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { DEFAULT_CATALOG, checkFamilySpecies, loadCatalog, loadFamily } from '../../src/node/catalog.ts';
import { LIMITS, readRegularSync, writeFileAtomicSync } from '../../src/node/confine.ts';
import { printable } from '../../src/core/format/printable.ts';
import { HF_KEYS } from '../../src/core/format/hf-keys.ts';
import { loadTensors } from '../../src/core/format/model.ts';
import { buildLlamaGraph } from '../../src/core/models/llama-graph.ts';
import { quantizedCausalLmSlm } from '../../src/core/models/llama-quantize.ts';
import { isHfFolder, openCausalLm } from '../../src/node/hf-folder.ts';

const blockParam = getOperator('quantize').params.find((p) => p.name === 'blockSize') as { default: number; min: number; max: number };

const usage = `garden quantize MODEL.slm --scheme int8|int4 [--block N] --out FILE.slm [options]

Quantize every weight matrix (block-wise symmetric, one float32 scale per block along the last
dimension; 1-D tensors stay float) and write a candidate that runs quantized: its species binds the
family graph rewritten to dequantize the weights inside onnxruntime.

A language model (a Hugging Face folder, or a .slm imported from one) has its linear weights
quantized (q/k/v/o, gate/up/down, and lm_head unless tied; the embedding stays): garden generate
runs it with one blocked DequantizeLinear per weight in the decoder graph (--seed, --family do
not apply).

  --scheme S         int8 or int4
  --block N          weights per scale (default ${blockParam.default}, ${blockParam.min}…${blockParam.max})
  --seed N           the breed seed the lineage records (default 0; quantize draws no random numbers,
                     but the seed is part of the lineage key and so of the file's bytes)
  --out FILE.slm     the quantized candidate
  --graph-out FILE   also write its graph (ONNX, weights external)
  --op OP            how the graph dequantizes (default auto):
${Object.entries(QUANT_GRAPH_OPS)
  .map(([k, v]) => `                       ${k}: ${v}`)
  .join('\n')}
  --family ID        the model's family (default: found by its species)
  --catalog PATH     the starter catalog (default: public/starter/catalog.json)
  --json             print the result as JSON`;

/** A regular model file under the model ceiling (a device or FIFO is refused before reading). */
function read(path: string, what: string): Uint8Array {
  return readRegularSync(path, what, LIMITS.model);
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    scheme: { type: 'string' },
    block: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    'graph-out': { type: 'string' },
    op: { type: 'string' },
    family: { type: 'string' },
    catalog: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new CliError(`expected one MODEL.slm, got ${positionals.length}; see garden quantize --help`);
  if (!values.scheme) throw new CliError('--scheme is required: int8 or int4');
  if (!values.out) throw new CliError('--out FILE.slm is required');
  let scheme;
  let op: QuantGraphOp;
  try {
    scheme = quantScheme(values.scheme);
    op = quantGraphOp(values.op ?? 'auto');
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const block = values.block === undefined ? blockParam.default : Number(values.block);
  if (!Number.isInteger(block) || block < blockParam.min || block > blockParam.max) {
    throw new CliError(`--block must be an integer in ${blockParam.min}…${blockParam.max}, got ${values.block}`);
  }
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!/^\d+$/.test(values.seed ?? '0') || !Number.isSafeInteger(seed) || seed >= 2 ** 32)
    throw new CliError(`--seed must be an integer in 0…${2 ** 32 - 1}, got ${values.seed}`);

  const catalogPath = resolve(values.catalog ?? DEFAULT_CATALOG);
  const modelPath = positionals[0];
  if (isHfFolder(modelPath)) return quantizeCausalLmCommand(modelPath, values, scheme, block);
  const inBytes = read(modelPath, 'model');
  const slm = readSlm(inBytes);
  if (slm.metadata[HF_KEYS.config] !== undefined) return quantizeCausalLmCommand(modelPath, values, scheme, block);
  if (slm.shards !== 1) throw new CliError(`${modelPath} is shard ${slm.shard + 1} of ${slm.shards}; quantize takes single-file models`);
  if (isQuantizedModel(slm.tensors)) throw new CliError(`${modelPath} is already quantized`);
  const catalog = loadCatalog(catalogPath);
  const familyId = values.family ?? catalog.families.find((f) => f.species === slm.species)?.id;
  if (!familyId) throw new CliError(`model species ${slm.species} matches no family in the catalog; pass --family to name one`);
  const { family: fam, graph: familyGraph } = loadFamily(catalogPath, familyId, catalog);
  if (slm.species !== fam.species) throw new CliError(`model species ${slm.species} is not family ${fam.id}'s species ${fam.species}`);
  checkFamilySpecies(slm, fam, modelPath);

  // The one candidate writer: the quantize operator through breed(), then candidateSlm with the
  // family graph, exactly as garden breed --family and the app do, so the bytes are the same.
  const result = await breed({ operator: 'quantize', params: { scheme, blockSize: block }, seed, parents: [slm.tensors] }, cpuBackend);
  const family = { graph: familyGraph, vocabulary: fam.output.labels, op };
  let file;
  try {
    file = candidateSlm(result, [{ ...checkSlmMetadata(slm.metadata), hash: slm.hash, tensors: slm.tensors, family }]);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const written = readSlm(file.bytes);
  const writtenOp = recordedQuantGraphOp(written.metadata);
  if (!file.graph) throw new CliError('the candidate writer returned no quantized graph');
  writeFileAtomicSync(values.out, file.bytes);
  if (values['graph-out']) writeFileAtomicSync(values['graph-out'], file.graph);
  const graphHash = sha256Hex(file.graph);
  const res = {
    path: values.out,
    hash: file.hash,
    bytes: file.bytes.length,
    parent: { path: modelPath, hash: slm.hash, bytes: inBytes.length },
    ratio: inBytes.length / file.bytes.length,
    scheme,
    blockSize: block,
    seed,
    op: writtenOp,
    family: fam.id,
    species: file.species,
    graphHash,
    graphPath: values['graph-out'] ?? null,
    lineage: file.lineageKey,
    tensors: written.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.data.length })),
  };
  if (values.json) {
    console.log(JSON.stringify(res, null, 2));
    return 0;
  }
  console.log(
    `candidate ${res.hash}  ${values.out}  ${scheme} block ${block} (${writtenOp})  ${file.bytes.length} bytes (${res.ratio.toFixed(2)}× smaller than ${inBytes.length})`,
  );
  console.log(`species   ${file.species}  graph ${graphHash}${values['graph-out'] ? `  → ${values['graph-out']}` : ''}`);
  console.log(`lineage   ${file.lineageKey}  (quantize@${result.operator.version}, seed ${seed}, parent ${slm.hash.slice(0, 12)}…)`);
  for (const t of res.tensors) console.log(`  ${printable(t.name).padEnd(24)} ${t.dtype.padEnd(4)} [${t.shape.join(',')}]  ${t.bytes} B`);
  return 0;
}

/**
 * A causal LM (a Hugging Face folder, or a .slm imported from one): its linear weights quantized
 * (llama-quantize.ts), written as a .slm that `garden generate` runs with in-graph DequantizeLinear.
 */
async function quantizeCausalLmCommand(
  path: string,
  values: { out?: string; op?: string; json?: boolean; 'graph-out'?: string; seed?: string; family?: string },
  scheme: QuantScheme,
  block: number,
): Promise<number> {
  if (values.op !== undefined && values.op !== 'auto' && values.op !== 'dequantize-linear')
    throw new CliError('--op: a language model is dequantized in its graph by DequantizeLinear only');
  if (values.seed !== undefined || values.family !== undefined) throw new CliError('--seed and --family apply to catalogued families only');
  const { lm, close } = await openCausalLm(path);
  try {
    if (isQuantizedModel(lm.model.tensors)) throw new CliError(`${path} is already quantized`);
    const tensors = await loadTensors(lm.model);
    const inBytes = tensors.reduce((n, t) => n + t.data.length, 0);
    const file = quantizedCausalLmSlm(lm.config, tensors, lm.model, scheme, block);
    writeFileAtomicSync(values.out as string, file.bytes);
    const graph = values['graph-out'] ? buildLlamaGraph({ ...lm.config, quantBlockSize: block }, file.tensors) : null;
    if (graph && values['graph-out']) writeFileAtomicSync(values['graph-out'], graph);
    const quantized = file.tensors.filter((t) => t.name.endsWith(QUANT_SUFFIX.q)).length;
    const res = {
      path: values.out,
      hash: file.hash,
      bytes: file.bytes.length,
      parent: { path, species: lm.model.species, tensorBytes: inBytes },
      scheme,
      blockSize: block,
      op: 'dequantize-linear',
      species: file.species,
      quantized,
      graphPath: values['graph-out'] ?? null,
      tensors: file.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.data.length })),
    };
    if (values.json) console.log(JSON.stringify(res, null, 2));
    else {
      console.log(
        `${values.out}  ${scheme} block ${block} (dequantize-linear)  ${file.bytes.length} bytes (tensors ${inBytes} before)  ${quantized} linear weights quantized`,
      );
      console.log(`species   ${file.species}${values['graph-out'] ? `  graph → ${values['graph-out']}` : ''}`);
    }
    return 0;
  } finally {
    await close();
  }
}

const command: Command = { usage, run };
export default command;
