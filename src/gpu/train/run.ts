/**
 * The app's adapter run with the engine chosen where it runs: WebGPU (GpuAdapterTrainer; for a
 * Llama-family LoRA, GpuLlamaLoraTrainer) when a device is there and the adapter is one the GPU
 * step trains, the CPU tape (core mlpAdapterSteps, llamaAdapterSteps) otherwise, and the CPU
 * carrying the run on if the GPU fails mid-run. Both take the same seeded batches and schedule (loop.ts) and train the prepared
 * run's adapter in place, so everything after the steps (early stop's snapshots, finishRun) is
 * the core's, unchanged.
 */
import { getGpu } from '../device.ts';
import { mlpAdapterSteps, mlpSites } from '../../core/train/mlp.ts';
import { CPU_ENGINE, finishRun, loopOptions, prepareRun, type PreparedRun, type RunInputs, type RunResult } from '../../core/train/run.ts';
import { ADAMW_DEFAULTS, type AdamWState } from '../../core/train/optim.ts';
import type { StepReport } from '../../core/train/loop.ts';
import { GpuAdapterTrainer, gpuAdapterSteps, gpuAdapterUnsupported } from './adapter.ts';
import { GpuLlamaLoraTrainer, gpuLlamaAdapterSteps, gpuLlamaUnsupported } from './llama.ts';
import { llamaAdapterSteps } from '../../core/train/llama.ts';
import type { CausalLmConfig } from '../../core/models/llama-config.ts';
import type { Tensor } from '../../core/tensor.ts';
import type { Adapter } from '../../core/train/lora.ts';
import type { LoopOptions } from '../../core/train/loop.ts';

export interface AdapterEngine {
  /** 'webgpu' or 'cpu' (the engine that took the last step), and in words: the adapter, or why the CPU was chosen (updated if the GPU fails). */
  kind: 'webgpu' | 'cpu';
  engine: string;
  /** The run's steps; the prepared run's adapter is current after each one. */
  steps: AsyncIterable<StepReport>;
  /** Free the device buffers (call once the steps are done or abandoned). */
  close(): void;
}

async function* cpuSteps(steps: Iterable<StepReport> | AsyncIterable<StepReport>): AsyncGenerator<StepReport, void, undefined> {
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
  const engine = gpuEngine(gpu, () => trainer.destroy());
  engine.steps = withFallback(engine, gpuAdapterSteps(trainer, inp.train.x, inp.train.y, opts), trainer, (resume) =>
    cpuSteps(mlpAdapterSteps(inp.base.tensors, run.adapter, inp.train.x, inp.train.y, opts, resume)),
  );
  return engine;
}

/** The engine of a GPU run, its steps set by withFallback once it exists. */
function gpuEngine(gpu: { adapterInfo: string; software: boolean }, close: () => void): AdapterEngine {
  return {
    kind: 'webgpu',
    engine: `WebGPU training kernels (f32) on ${gpu.adapterInfo}${gpu.software ? ' (software adapter)' : ''}`,
    steps: cpuSteps([]),
    close,
  };
}

/**
 * The GPU steps, and the CPU's when the GPU fails (a pipeline the adapter refuses, a device lost):
 * at the first step nothing was updated, so the CPU run starts from the same adapter; later, the
 * CPU carries the run on from the host copy of the last completed step (the adapter's weights in
 * its arrays and AdamW's moments, `hostState`), with the same batches, rates and dropout from
 * there (core trainSteps' `resume`). The engine the caller holds then names both.
 */
async function* withFallback(
  engine: AdapterEngine,
  gpuSteps: AsyncIterable<StepReport>,
  trainer: { hostState(): AdamWState | null },
  cpu: (resume?: AdamWState) => AsyncIterable<StepReport>,
): AsyncGenerator<StepReport, void, undefined> {
  const it = gpuSteps[Symbol.asyncIterator]();
  for (;;) {
    let r: IteratorResult<StepReport>;
    try {
      r = await it.next();
    } catch (e) {
      const state = trainer.hostState();
      const why = (e as Error).message;
      engine.close();
      engine.kind = 'cpu';
      engine.engine = state
        ? `${engine.engine} for steps 1–${state.steps}, then ${CPU_ENGINE} from step ${state.steps + 1} (weights and AdamW moments carried over): WebGPU failed: ${why}`
        : `${CPU_ENGINE}; WebGPU failed at its first step: ${why}`;
      engine.close = () => {};
      yield* cpu(state ?? undefined);
      return;
    }
    if (r.done) return;
    yield r.value;
  }
}

/**
 * The steps of a Llama-family LoRA run (core llamaAdapterSteps' arguments) on WebGPU when it can
 * (EnginePreference as adapterSteps), else on the CPU; the adapter is current after each step,
 * and a GPU that fails mid-run hands the run to the CPU (withFallback).
 */
export async function llamaAdapterEngine(
  config: CausalLmConfig,
  baseTensors: readonly Tensor[],
  adapter: Adapter,
  tokens: ArrayLike<number>,
  seqLen: number,
  opts: LoopOptions,
  prefer: EnginePreference = 'auto',
): Promise<AdapterEngine> {
  const cpu = (why: string): AdapterEngine => ({
    kind: 'cpu',
    engine: `${CPU_ENGINE}${why ? `; ${why}` : ''}`,
    steps: cpuSteps(llamaAdapterSteps(config, baseTensors, adapter, tokens, seqLen, opts)),
    close: () => {},
  });
  if (prefer === 'cpu') return cpu('');
  const why = gpuLlamaUnsupported(adapter);
  if (why) return cpu(`not WebGPU: ${why}`);
  const gpu = await getGpu();
  if (!gpu) return cpu('no WebGPU device');
  if (gpu.software && prefer === 'auto') return cpu(`the WebGPU adapter is software (${gpu.adapterInfo})`);
  const batch = Math.min(opts.batch, Math.floor(tokens.length / seqLen));
  let trainer: GpuLlamaLoraTrainer;
  try {
    trainer = new GpuLlamaLoraTrainer(gpu.device, config, baseTensors, adapter, batch, seqLen, opts.adamw ?? ADAMW_DEFAULTS);
  } catch (e) {
    return cpu(`WebGPU refused the run (${(e as Error).message})`);
  }
  const engine = gpuEngine(gpu, () => trainer.destroy());
  engine.steps = withFallback(engine, gpuLlamaAdapterSteps(trainer, tokens, opts), trainer, (resume) =>
    cpuSteps(llamaAdapterSteps(config, baseTensors, adapter, tokens, seqLen, opts, resume)),
  );
  return engine;
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
