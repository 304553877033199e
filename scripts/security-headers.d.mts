export const CSP: string;
export const SECURITY_HEADERS: Record<string, string>;
export const CORS: false;
