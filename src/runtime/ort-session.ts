/**
 * onnxruntime-web sessions for garden models, in Node (CLI, tests) and in the browser or a worker.
 *
 * A species graph carries no weights: every initializer is external data named by its tensor, so
 * a session is the graph bytes plus `externalData: [{ path: tensorName, data: tensorBytes }]`
 * from a `.slm` file's tensors. Session creation and runs are queued so they never overlap (see enqueue).
 */
import * as ort from 'onnxruntime-web';
import { numel, type Tensor } from '../core/tensor.ts';
import { inspectOnnxGraph, ONNX_ELEMENT_TYPES } from '../core/models/onnx-graph.ts';

const ONNX_UINT8 = ONNX_ELEMENT_TYPES.uint8;

export type InferenceSession = ort.InferenceSession;

export interface OrtSessionOptions {
  /** Where the wasm files are served from in the browser (the app's own origin). Ignored in Node. */
  wasmPaths?: string;
  /** wasm threads; defaults to 1 (Node, and browsers that are not cross-origin isolated). */
  numThreads?: number;
  /** onnxruntime execution providers in order of preference; default ['wasm']. 'webgpu' needs the browser bundle. */
  executionProviders?: readonly ('wasm' | 'webgpu')[];
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

let configured = false;
function configure(opts: OrtSessionOptions): void {
  if (opts.wasmPaths !== undefined) ort.env.wasm.wasmPaths = opts.wasmPaths;
  if (opts.numThreads !== undefined) ort.env.wasm.numThreads = opts.numThreads;
  else if (!configured) ort.env.wasm.numThreads = isNode ? 1 : Math.max(1, ort.env.wasm.numThreads ?? 1);
  configured = true;
}

/**
 * Build a session from a weight-free graph and the model's tensors. Every external reference in
 * the graph must be provided by a tensor of that name with exactly the declared byte length.
 */
export async function createOrtSession(
  graphBytes: Uint8Array,
  tensors: readonly Tensor[],
  opts: OrtSessionOptions = {},
): Promise<InferenceSession> {
  configure(opts);
  const { external } = inspectOnnxGraph(graphBytes);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const externalData = external.map((ref) => {
    const t = byName.get(ref.location);
    if (!t)
      throw new Error(
        `model has no tensor "${ref.location}" that the graph needs; graph needs: ${external.map((e) => e.location).join(', ')}`,
      );
    if (t.data.length !== ref.length)
      throw new Error(`tensor "${ref.location}" is ${t.data.length} bytes but the graph expects ${ref.length}`);
    // An I4 tensor (two nibbles a byte) is INT4 with its own shape, or (quantized-graph.ts "cast") its packed bytes, UINT8 [ceil(n / 2)].
    const dims = t.dtype === 'I4' && ref.dataType === ONNX_UINT8 ? [Math.ceil(numel(t.shape) / 2)] : t.shape;
    if (dims.join(',') !== ref.dims.join(','))
      throw new Error(`tensor "${ref.location}" has shape [${dims}] but the graph expects [${ref.dims}]`);
    return { path: ref.location, data: t.data };
  });
  return enqueue(() =>
    ort.InferenceSession.create(graphBytes, {
      externalData,
      executionProviders: [...(opts.executionProviders ?? ['wasm'])],
      graphOptimizationLevel: 'all',
    }),
  );
}

/**
 * The execution provider a session created with `requested` runs on, from onnxruntime's own
 * state: 'webgpu' only when its WebGPU backend initialized (it then pins the GPUDevice it made
 * on env.webgpu as a data property; before that `device` is an accessor), else 'wasm' (onnxruntime
 * drops an unavailable provider from the list and runs on the next one).
 */
export function sessionExecutionProvider(requested: readonly ('wasm' | 'webgpu')[] = ['wasm']): 'wasm' | 'webgpu' {
  if (!requested.includes('webgpu')) return 'wasm';
  const device = Object.getOwnPropertyDescriptor(ort.env.webgpu, 'device');
  return device && 'value' in device && device.value ? 'webgpu' : 'wasm';
}

/**
 * One job at a time, across all sessions: onnxruntime-web's wasm backend refuses overlapping runs
 * on a session, and its WebGPU execution provider refuses a run or a session creation while
 * another session's run is in flight ("Session already started", "Session mismatch").
 */
let queue: Promise<unknown> = Promise.resolve();
function enqueue<T>(job: () => Promise<T>): Promise<T> {
  const next = queue.then(job, job);
  queue = next.catch(() => undefined);
  return next;
}

/**
 * The one runner: a batch of rows [batch × width] as the model's first input (float32 features,
 * or int32 token ids), queued; returns a copy of the first output, which must be float32.
 */
export function runSession(
  session: InferenceSession,
  input: Float32Array | Int32Array,
  batch: number,
  width: number,
): Promise<Float32Array> {
  const what = input instanceof Int32Array ? 'ids' : 'values';
  if (input.length !== batch * width) throw new Error(`runSession: ${input.length} ${what} for batch ${batch} × ${width}`);
  return enqueue(async () => {
    const feeds = {
      [session.inputNames[0]]:
        input instanceof Int32Array ? new ort.Tensor('int32', input, [batch, width]) : new ort.Tensor('float32', input, [batch, width]),
    };
    const result = await session.run(feeds);
    const out = result[session.outputNames[0]];
    if (out.type !== 'float32') throw new Error(`model output "${session.outputNames[0]}" is ${out.type}, expected float32`);
    const data = Float32Array.from(out.data as Float32Array);
    out.dispose();
    return data;
  });
}

/** A run with named feeds (a decoder's ids, positions and KV cache), queued like every run; the caller disposes the outputs. */
export function runFeeds(session: InferenceSession, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  return enqueue(() => session.run(feeds));
}

/** A classifier on a batch of float features; the logits [batch × classes]. */
export const runClassifier = (session: InferenceSession, inputs: Float32Array, batch: number, featureSize: number): Promise<Float32Array> =>
  runSession(session, inputs, batch, featureSize);

/** A token model on int32 ids [batch × width]. */
export const runTokens = (session: InferenceSession, ids: Int32Array, batch: number, width: number): Promise<Float32Array> =>
  runSession(session, ids, batch, width);

export async function releaseSession(session: InferenceSession): Promise<void> {
  await enqueue(() => session.release());
}
