export const CHROMIUM: string;
export function ensureChromium(): string;
export const CHROMIUM_ARGS: string[];
