/**
 * The canary API key, and a collector of everything that leaves the server (tool results, errors, log lines,
 * stderr), searched for it at the end of each file.
 */
import { setLogLevel, setLogSink } from '../../src/core/log.js';

export const CANARY_KEY = 'afk_CANARY_7f3a9c2e5b8d41f6';

/** The key as given, without its prefix (which redaction keys on), and encoded as a header or URL might carry it. */
const NEEDLES = [
  CANARY_KEY,
  CANARY_KEY.slice('afk_'.length),
  Buffer.from(CANARY_KEY).toString('base64'),
  encodeURIComponent(CANARY_KEY),
];

export function countLeaks(text: string): number {
  let n = 0;
  for (const needle of NEEDLES) n += text.split(needle).length - 1;
  return n;
}

export class Outbox {
  private readonly seen: string[] = [];
  readonly logLines: string[] = [];
  private restore: (() => void) | undefined;

  /** Captures every log line of this worker (at debug level, so that nothing escapes the search). */
  captureLogs(): void {
    setLogLevel('debug');
    this.restore = setLogSink((line) => {
      this.logLines.push(line);
    });
  }

  release(): void {
    this.restore?.();
    setLogLevel('info');
  }

  see(value: unknown): void {
    if (value instanceof Error) {
      this.seen.push(`${value.name}: ${value.message}\n${value.stack ?? ''}`);
      return;
    }
    this.seen.push(typeof value === 'string' ? value : JSON.stringify(value));
  }

  leaks(): number {
    return countLeaks(this.seen.join('\n')) + countLeaks(this.logLines.join(''));
  }

  /** Where the canary showed up, for a failure message. */
  leakSamples(): string[] {
    return [...this.seen, ...this.logLines].filter((t) => countLeaks(t) > 0).map((t) => t.slice(0, 300));
  }
}
