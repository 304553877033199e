/** Count the bytes of live GPU buffers on a device by wrapping createBuffer and destroy. */
export interface GpuTracker {
  live(): number;
  peak(): number;
}

export function trackGpuBuffers(device: GPUDevice): GpuTracker {
  let live = 0;
  let peak = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor) => {
    const b = create(desc);
    const size = desc.size;
    live += size;
    peak = Math.max(peak, live);
    const destroy = b.destroy.bind(b);
    let gone = false;
    b.destroy = () => {
      if (!gone) live -= size;
      gone = true;
      destroy();
    };
    return b;
  };
  return { live: () => live, peak: () => peak };
}
