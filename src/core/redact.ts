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
 * Characters that change how text is shown or read rather than what it says: C0 and C1 controls (newline, escape,
 * backspace...), DEL, and the invisible direction and joiner marks (a bidi override can make a path or a figure read
 * backwards in a terminal or a chat window).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's purpose.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Text from outside with every control character made a space; nothing else changed. */
export function stripControls(text: string): string {
  return text.replace(CONTROL_CHARACTERS, ' ');
}

/**
 * Upstream text (an error body, say) made fit for an agent: one line, no control characters, bounded length,
 * secrets masked.
 */
export function sanitize(text: string, maxLength = 300): string {
  const oneLine = stripControls(redact(text)).replace(/\s+/g, ' ').trim();
  return oneLine.length > maxLength ? `${oneLine.slice(0, maxLength - 1)}…` : oneLine;
}

/**
 * Upstream words as the agent sees them: sanitised, short, and in quotes it cannot close, so that a body saying
 * "What to do: ..." reads as what Apiframe said, not as this server's advice.
 */
export function quoted(text: string, maxLength = 200): string {
  return `“${sanitize(text, maxLength).replace(/[“”]/g, '"')}”`;
}
