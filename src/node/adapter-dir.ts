/**
 * A PEFT adapter folder on disk (adapter_config.json + adapter_model.safetensors, peft.ts), read
 * through the CLI's confinement (regular files inside the folder, bounded reads) and written
 * atomically file by file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, type PeftFiles } from '../core/train/peft.ts';
import { LIMITS, confinedPath, readRegularSync, readTextSync, writeFileAtomicSync } from './confine.ts';

export function readAdapterDir(dir: string): PeftFiles {
  return {
    config: readTextSync(confinedPath(dir, dir, ADAPTER_CONFIG, 'adapter config'), ADAPTER_CONFIG, LIMITS.json),
    weights: readRegularSync(confinedPath(dir, dir, ADAPTER_WEIGHTS, 'adapter weights'), ADAPTER_WEIGHTS, LIMITS.model),
  };
}

export function writeAdapterDir(dir: string, files: PeftFiles): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomicSync(join(dir, ADAPTER_CONFIG), files.config);
  writeFileAtomicSync(join(dir, ADAPTER_WEIGHTS), files.weights);
}
