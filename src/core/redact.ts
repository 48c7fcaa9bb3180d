/**
 * Secrets are registered once (the API key, at start-up) and scrubbed from every string that leaves the process:
 * log lines, error messages and tool results all pass through `redact`.
 */
const secrets = new Set<string>();

/** Apiframe keys look like `afk_...`; anything of that shape is masked even if it was never registered. */
const KEY_SHAPE = /\bafk_[A-Za-z0-9_-]{4,}/g;

export function registerSecret(secret: string | undefined): void {
  if (secret !== undefined && secret.length >= 4) secrets.add(secret);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out.replace(KEY_SHAPE, 'afk_[redacted]');
}

/**
 * Upstream text (an error body, say) made fit for an agent: one line, no control characters, bounded length,
 * secrets masked.
 */
export function sanitize(text: string, maxLength = 300): string {
  const visible = Array.from(redact(text), (ch) => (ch < ' ' || ch === '\u007f' ? ' ' : ch)).join('');
  const oneLine = visible.replace(/\s+/g, ' ').trim();
  return oneLine.length > maxLength ? `${oneLine.slice(0, maxLength - 1)}…` : oneLine;
}
