/**
 * The app's adapter run with the engine chosen where it runs: WebGPU (GpuAdapterTrainer) when a
 * device is there and the adapter is one the GPU step trains, the CPU tape (core mlpAdapterSteps)
 * otherwise. Both take the same seeded batches and schedule (loop.ts) and train the prepared
 * run's adapter in place, so everything after the steps (early stop's snapshots, finishRun) is
 * the core's, unchanged.
 */
import { getGpu } from '../device.ts';
import { mlpAdapterSteps, mlpSites } from '../../core/train/mlp.ts';
import { finishRun, loopOptions, prepareRun, type PreparedRun, type RunInputs, type RunResult } from '../../core/train/run.ts';
import { ADAMW_DEFAULTS } from '../../core/train/optim.ts';
import type { StepReport } from '../../core/train/loop.ts';
import { GpuAdapterTrainer, gpuAdapterSteps, gpuAdapterUnsupported } from './adapter.ts';

export const CPU_ENGINE = 'garden tape (CPU, f32)';

export interface AdapterEngine {
  /** 'webgpu' or 'cpu', and in words: the adapter, or why the CPU was chosen (updated if the GPU's first step fails). */
  kind: 'webgpu' | 'cpu';
  engine: string;
  /** The run's steps; the prepared run's adapter is current after each one. */
  steps: AsyncIterable<StepReport>;
  /** Free the device buffers (call once the steps are done or abandoned). */
  close(): void;
}

async function* cpuSteps(steps: Iterable<StepReport>): AsyncGenerator<StepReport, void, undefined> {
  yield* steps;
}

/**
 * 'auto': WebGPU on a hardware adapter, else the CPU (a software adapter such as SwiftShader is
 * far slower than the CPU tape: 59 against 5 995 examples/s for the digits MLP, docs/TRAINING.md
 * "Training throughput"); 'webgpu': any WebGPU adapter, software too (conformance); 'cpu': the CPU.
 */
export type EnginePreference = 'auto' | 'webgpu' | 'cpu';

/** The steps of a prepared run (core prepareRun) on WebGPU when it can (see EnginePreference), else on the CPU. */
export async function adapterSteps(inp: RunInputs, run: PreparedRun, prefer: EnginePreference = 'auto'): Promise<AdapterEngine> {
  const opts = loopOptions(inp.spec.train);
  const cpu = (why: string): AdapterEngine => ({
    kind: 'cpu',
    engine: `${CPU_ENGINE}${why ? `; ${why}` : ''}`,
    steps: cpuSteps(mlpAdapterSteps(inp.base.tensors, run.adapter, inp.train.x, inp.train.y, opts)),
    close: () => {},
  });
  if (prefer === 'cpu') return cpu('');
  const why = gpuAdapterUnsupported(mlpSites(inp.base.tensors));
  if (why) return cpu(`not WebGPU: ${why}`);
  const gpu = await getGpu();
  if (!gpu) return cpu('no WebGPU device');
  if (gpu.software && prefer === 'auto') return cpu(`the WebGPU adapter is software (${gpu.adapterInfo})`);
  const batch = Math.min(opts.batch, inp.train.y.length);
  let trainer: GpuAdapterTrainer;
  try {
    trainer = new GpuAdapterTrainer(gpu.device, inp.base.tensors, run.adapter, batch, opts.adamw ?? ADAMW_DEFAULTS);
  } catch (e) {
    return cpu(`WebGPU refused the run (${(e as Error).message})`);
  }
  const engine: AdapterEngine = {
    kind: 'webgpu',
    engine: `WebGPU training kernels (f32) on ${gpu.adapterInfo}${gpu.software ? ' (software adapter)' : ''}`,
    steps: cpuSteps([]), // set below, once the engine exists for the fallback to update
    close: () => trainer.destroy(),
  };
  const gpuSteps = gpuAdapterSteps(trainer, inp.train.x, inp.train.y, opts);
  engine.steps = firstStepFallback(engine, gpuSteps, () => cpu('WebGPU failed at its first step'));
  return engine;
}

/**
 * The GPU steps, or the CPU's when the GPU's first step fails (a pipeline the adapter refuses, a
 * device lost at once): nothing was updated then, so the CPU run starts from the same adapter.
 * A failure after the first step is the run's error (the optimizer's moments live on the device).
 */
async function* firstStepFallback(
  engine: AdapterEngine,
  gpuSteps: AsyncIterable<StepReport>,
  cpu: () => AdapterEngine,
): AsyncGenerator<StepReport, void, undefined> {
  const it = gpuSteps[Symbol.asyncIterator]();
  let first: IteratorResult<StepReport>;
  try {
    first = await it.next();
  } catch (e) {
    engine.close();
    const fallback = cpu();
    // The engine the caller holds now names the CPU (read engine.kind and engine.engine after the run).
    engine.kind = fallback.kind;
    engine.engine = `${fallback.engine}: ${(e as Error).message}`;
    engine.close = fallback.close;
    yield* fallback.steps;
    return;
  }
  if (first.done) return;
  yield first.value;
  for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
}

export class TrainAborted extends Error {
  override name = 'TrainAborted';
}

/**
 * A whole run (core runTraining's result) on WebGPU with the CPU as fallback: prepareRun, the
 * steps, finishRun; the manifest's `engine` names the engine that ran. `signal` stops the run
 * between steps (rejects with TrainAborted).
 */
export async function trainAdapterOnGpu(
  inp: RunInputs,
  onStep?: (r: StepReport) => void,
  signal?: AbortSignal,
  prefer: EnginePreference = 'auto',
): Promise<RunResult & { engine: string; kind: 'webgpu' | 'cpu' }> {
  const run = prepareRun(inp);
  const e = await adapterSteps(inp, run, prefer);
  const steps: StepReport[] = [];
  try {
    for await (const r of e.steps) {
      steps.push(r);
      onStep?.(r);
      if (signal?.aborted) throw new TrainAborted(`aborted at step ${steps.length} of ${inp.spec.train.steps}`);
    }
  } finally {
    e.close();
  }
  const result = finishRun(inp, run, steps);
  result.manifest.engine = e.engine;
  return { ...result, engine: e.engine, kind: e.kind };
}
