/**
 * The reliability suite's figures, shared by the test files that count them (tally.ts) and the script that adds
 * them up (scripts/reliability-table.ts). Free of vitest, so that the script can load it.
 */
import { join } from 'node:path';

export interface Figures {
  /** Distinct situations set up (a fault on a route, a hostile file, a leak probe). */
  scenarios: number;
  /** Generated argument sets sent through the MCP client. */
  fuzzCases: number;
  /** Faults the simulator (or a hostile upstream) actually injected. */
  faultsInjected: number;
  /** Jobs the upstream created... */
  jobsCreated: number;
  /** ...for this many logical calls that asked for a new video (never fewer: that would be a double charge). */
  logicalCalls: number;
  /** Occurrences of the canary key in anything that left the server. */
  leaks: number;
  /** Protocol errors, rejected calls, internal errors and dead processes where an answer was due. */
  crashes: number;
}

export const FIGURE_KEYS = [
  'scenarios',
  'fuzzCases',
  'faultsInjected',
  'jobsCreated',
  'logicalCalls',
  'leaks',
  'crashes',
] as const satisfies readonly (keyof Figures)[];

export function emptyFigures(): Figures {
  return Object.fromEntries(FIGURE_KEYS.map((key) => [key, 0])) as unknown as Figures;
}

export const REPORT_DIR = join(import.meta.dirname, '..', '..', 'reports', 'reliability');
