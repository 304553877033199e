/** `garden inspect FILE`: tensors, species and SHA-256 of a model file; a refused file is one line naming the check. */
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { scanNonFinite } from '../../src/core/format/model.ts';
import { hashSource } from '../../src/core/format/source.ts';
import { fileSource } from '../../src/node/file-source.ts';
import { openModelFile } from '../../src/node/model-files.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { byteLength } from '../../src/core/tensor.ts';
import { printable } from '../../src/core/format/printable.ts';

const usage = `garden inspect FILE [--json] [--no-scan]

Prints the tensors (name, dtype, shape), the species (for .slm files) and the SHA-256 of a .slm,
safetensors, Hugging Face index (model.safetensors.index.json) or ONNX file, and flags NaN/Inf
weights. A file that fails a check exits with status 1 and one line naming the check.`;

const command: Command = {
  usage,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, {
      json: { type: 'boolean', default: false },
      'no-scan': { type: 'boolean', default: false },
    });
    const json = values.json;
    const noScan = values['no-scan'];
    if (args.length !== 1) throw new CliError(`expected one FILE, got ${args.length}; see garden inspect --help`);
    const path = args[0];
    const opened = await openModelFile(path);
    try {
      const { model, files } = opened;
      const hashes: { file: string; sha256: string }[] = [];
      for (const f of files) {
        const s = await fileSource(f);
        try {
          hashes.push({ file: f, sha256: await hashSource(s) });
        } finally {
          await s.close();
        }
      }
      const scan = noScan ? null : await scanNonFinite(model);
      const species = model.format === 'slm' ? model.species : null;
      const totalBytes = model.tensors.reduce((s, t) => s + byteLength(t.dtype, t.shape), 0);
      if (json) {
        console.log(
          JSON.stringify(
            {
              format: model.format,
              species,
              graph: model.graphHash || null,
              files: hashes,
              tensors: model.tensors,
              bytes: totalBytes,
              nonFinite: scan?.flagged ?? null,
            },
            null,
            2,
          ),
        );
        return 0;
      }
      const lines = [`format: ${model.format === 'slm' ? '.slm' : model.format}`];
      for (const h of hashes) lines.push(`sha256: ${h.sha256}  ${printable(h.file)}`);
      lines.push(`species: ${species ?? 'not a .slm (no species)'}`);
      if (model.format === 'onnx') lines.push(`graph (weights stripped): ${model.graphHash}`);
      if (model.vocabulary.length) lines.push(`vocabulary: ${model.vocabulary.length} entries`);
      lines.push(`tensors: ${model.tensors.length} (${totalBytes} bytes)`);
      // Names as the file spelled them, escaped; widths by a loop (a spread of 200k names overflows the stack).
      const names = model.tensors.map((t) => printable(t.name));
      let w = 4;
      for (const n of names) if (n.length > w) w = n.length;
      w = Math.min(60, w);
      model.tensors.forEach((t, i) => lines.push(`  ${names[i].padEnd(w)}  ${t.dtype.padEnd(4)}  [${t.shape.join(', ')}]`));
      if (scan)
        lines.push(
          scan.finite
            ? 'non-finite weights: none'
            : `non-finite weights: FLAGGED in ${scan.flagged.length} tensors: ${scan.flagged.map((f) => `${printable(f.name)} (NaN ${f.nan}, +Inf ${f.posInf}, -Inf ${f.negInf})`).join('; ')}`,
        );
      console.log(lines.join('\n'));
      return 0;
    } finally {
      await opened.close();
    }
  },
};

export default command;
