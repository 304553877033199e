/**
 * Quantize (int8 / int4, block-wise symmetric) on the GPU: returns the dequantized tensor, the
 * per-tensor output of the CPU reference (fakeQuantize); the stored q and scales come from the
 * operator's `store`. Chunks are whole rows, so no block straddles two chunks.
 */
import code from './quantize.wgsl?raw';
import { QUANT_SCHEMES, quantScheme } from '../../core/operators/quantize.cpu.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { wgslStruct } from '../wgsl-struct.ts';
import { firstParents } from '../source.ts';
import type { GpuKernel } from './types.ts';

export class QuantizeStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'quantize', code);
  }
}

export const QuantizeParams = wgslStruct('QuantizeParams', { qmax: 'f32', blockSize: 'u32', rowLength: 'u32', blocksPerRow: 'u32' });

export const quantizeGpu: GpuKernel = {
  id: 'quantize',
  async run(k, src, params, ctx, _op, sink) {
    const { qmax } = QUANT_SCHEMES[quantScheme(params.scheme)];
    const blockSize = Number(params.blockSize);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`quantize: block size ${blockSize} must be a positive integer`);
    const n = src.length;
    const cols = ctx.shape.length ? ctx.shape[ctx.shape.length - 1] : 1;
    if (cols === 0 || n === 0) return sink ? null : new Float32Array(n);
    if (n % cols !== 0) throw new Error(`quantize: ${n} values for shape [${ctx.shape}]`);
    const blocks = Math.ceil(cols / blockSize);
    const job = new TensorJob(k, 'quantize', firstParents(src, 1), { multiple: cols });
    try {
      const buf = job.params(QuantizeParams, { qmax, blockSize, rowLength: cols, blocksPerRow: blocks });
      return await job.elementwise(k.stage(QuantizeStage), buf, { sink, invocations: (count) => (count / cols) * blocks });
    } finally {
      job.dispose();
    }
  },
};
