/**
 * Whether a Node version meets a minimum ("22.13"). Imported by the launcher (src/launcher.ts), which any Node must be
 * able to run: so no imports, and nothing newer than the oldest syntax the launcher is built for.
 */
export function atLeast(version: string, minimum: string): boolean {
  const have = version.split('.').map(Number);
  const need = minimum.split('.').map(Number);
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0;
    const b = need[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}
