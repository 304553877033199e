/**
 * The one place that asks the browser for a WebGPU device. The request is made once and cached;
 * when the device is lost the cache is cleared, so the next `getGpu()` asks again, and callers that
 * were mid-run see a `DeviceLostError` and fall back to the CPU backend.
 */

export interface Gpu {
  device: GPUDevice;
  /** Human-readable adapter: vendor, architecture, device and description, as the browser reports them. */
  adapterInfo: string;
  /** A software adapter (SwiftShader or another fallback adapter): never a performance figure. */
  software: boolean;
  /** Set once the device is lost; the reason is the browser's message. */
  readonly lost: { value: boolean; reason: string };
}

/** Thrown by GPU work that was cut off because the device was lost; breed falls back to the CPU. */
export class DeviceLostError extends Error {
  override readonly name = 'DeviceLostError';
  constructor(reason: string) {
    super(`WebGPU device lost: ${reason || 'no reason given'}`);
  }
}

export function isDeviceLostError(e: unknown): e is DeviceLostError {
  return e instanceof DeviceLostError || (e instanceof Error && e.name === 'DeviceLostError');
}

let cached: Promise<Gpu | null> | null = null;

/** The cached WebGPU device, or null where WebGPU is missing (no navigator.gpu, no adapter, request refused). */
export function getGpu(): Promise<Gpu | null> {
  if (!cached) {
    // A failed request is cached like a missing GPU; a lost device clears the cache.
    const p: Promise<Gpu | null> = openGpu(() => {
      if (cached === p) cached = null;
    }).catch(() => null);
    cached = p;
  }
  return cached;
}

/** Forget the cached device (tests; after a loss this happens by itself). */
export function forgetGpu(): void {
  cached = null;
}

type AdapterWithInfo = GPUAdapter & { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean }; isFallbackAdapter?: boolean };

export function describeAdapter(adapter: GPUAdapter): { adapterInfo: string; software: boolean } {
  const a = adapter as AdapterWithInfo;
  const info = a.info;
  const parts = info
    ? [info.vendor, info.architecture, info.device, info.description].filter((s) => typeof s === 'string' && s.length > 0)
    : [];
  const fallback = info?.isFallbackAdapter === true || a.isFallbackAdapter === true;
  const text = [...new Set(parts)].join(' / ');
  const software = fallback || /swiftshader|llvmpipe|software|fallback/i.test(text);
  const adapterInfo = text || (software ? 'WebGPU software adapter (SwiftShader)' : 'WebGPU adapter (the browser gave no description)');
  return {
    adapterInfo: software && !/swiftshader|fallback|software/i.test(adapterInfo) ? `${adapterInfo} (software)` : adapterInfo,
    software,
  };
}

/** A new, uncached device (getGpu caches one of these); `onLost` runs when it is lost. */
export async function openGpu(onLost?: () => void): Promise<Gpu | null> {
  const gpu = (globalThis as { navigator?: Navigator }).navigator?.gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const { adapterInfo, software } = describeAdapter(adapter);
  // Ask for the adapter's own storage limits: the default 128 MiB binding would force chunking
  // on tensors the hardware can take whole.
  const device = await adapter.requestDevice({
    label: 'slm-garden kernels',
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  const lost = { value: false, reason: '' };
  const handle: Gpu = { device, adapterInfo, software, lost };
  void device.lost.then((info) => {
    lost.value = true;
    lost.reason = info.message || info.reason || 'unknown';
    onLost?.();
  });
  return handle;
}
