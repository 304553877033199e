export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export const short = (hash: string) => hash.slice(0, 10);
export const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** "4.2 s", "3 min 5 s". */
export function duration(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/**
 * Below this fraction of the work done, a rate says little (a breed's first tensor may be a 256-byte
 * bias after seconds of setup, which read as "about 35 min left" for a 20-second breed): no ETA yet.
 */
export const ETA_MIN_FRACTION = 0.02;

/** Seconds left at the rate so far, or null before there is a rate worth showing. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number | null {
  if (done <= 0 || elapsedMs <= 0 || done < total * ETA_MIN_FRACTION) return null;
  return ((total - done) * elapsedMs) / done / 1000;
}

/** " · about 12.0 s left" for long work started at `startedAt` (performance.now()), or "" before there is a rate. */
export function etaText(startedAt: number | undefined, done: number, total: number, now = performance.now()): string {
  const left = startedAt === undefined ? null : etaSeconds(done, total, now - startedAt);
  return left === null ? '' : ` · about ${duration(left)} left`;
}
