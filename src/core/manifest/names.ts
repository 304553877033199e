/** 'compatibility-report' → 'compatibility_report': a document kind's export in validators.generated.ts. */
export function exportName(kind: string): string {
  return kind.replace(/-/g, '_');
}
