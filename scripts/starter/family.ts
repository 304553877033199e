/**
 * What every starter family build produces, and helpers shared by the families.
 */
import type { CatalogFamily, CatalogModel, CatalogSuite } from '../../src/core/models/catalog.ts';
import { speciesId, speciesSignature, writeSlm } from '../../src/core/format/slm.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { writeSuite, type SuiteInfo } from '../../src/core/eval/suite.ts';
import type { Tensor } from '../../src/core/tensor.ts';

export interface FamilyBuild {
  /** Files relative to the starter directory (public/starter), in a fixed order. */
  files: Map<string, Uint8Array>;
  entry: CatalogFamily;
  /** Seconds spent per phase, for the docs. */
  timings: Record<string, number>;
  /** Extra lines a family wants printed (e.g. a sampled continuation). */
  notes: string[];
}

export class FamilyWriter {
  readonly files = new Map<string, Uint8Array>();
  readonly models: CatalogModel[] = [];
  readonly suites: CatalogSuite[] = [];
  readonly graphHash: string;
  species = '';

  constructor(
    readonly family: string,
    readonly graph: Uint8Array,
    readonly labels: string[],
  ) {
    this.graphHash = sha256Hex(graph);
    this.files.set(`${family}/graph.onnx`, graph);
  }

  addModel(m: Omit<CatalogModel, 'file' | 'hash' | 'bytes'>, fileName: string, tensors: Tensor[]): void {
    const species = speciesId(speciesSignature(tensors, this.graphHash, this.labels));
    if (this.species && species !== this.species)
      throw new Error(`model ${m.id} has species ${species}, but the family's species is ${this.species}`);
    this.species = species;
    const bytes = writeSlm(tensors, {
      species,
      // Graph and labels recorded, so every reader recomputes the species instead of trusting it.
      graph: this.graphHash,
      vocabulary: this.labels,
      extra: { 'starter.family': this.family, 'starter.model': m.id, 'starter.name': m.name, 'starter.role': m.role },
    });
    const file = `${this.family}/${fileName}`;
    this.files.set(file, bytes);
    this.models.push({ ...m, file, hash: sha256Hex(bytes), bytes: bytes.length });
  }

  addSuite(info: SuiteInfo, inputs: Parameters<typeof writeSuite>[1], labels: Uint8Array, primary: boolean, fileName: string): void {
    const bytes = writeSuite(info, inputs, labels);
    const file = `${this.family}/suites/${fileName}`;
    this.files.set(file, bytes);
    this.suites.push({
      id: info.id,
      name: info.name,
      file,
      hash: sha256Hex(bytes),
      bytes: bytes.length,
      count: labels.length,
      perturbation: info.perturbation,
      primary,
      description: info.description,
      task: info.task,
      ...(info.baseline !== undefined ? { baseline: info.baseline } : {}),
    });
  }

  entry(meta: Pick<CatalogFamily, 'id' | 'name' | 'description' | 'input' | 'output'>): CatalogFamily {
    return {
      ...meta,
      species: this.species,
      graph: `${this.family}/graph.onnx`,
      graphHash: this.graphHash,
      models: this.models,
      suites: this.suites,
    };
  }
}

export function seconds(t0: number): number {
  return Math.round((performance.now() - t0) / 10) / 100;
}
