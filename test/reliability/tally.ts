/**
 * The reliability suite's figures. Each test file keeps a Tally, and writes it once at the end to
 * reports/reliability/<file>.json; scripts/reliability-table.ts adds them up and prints the table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';

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

export const REPORT_DIR = join(import.meta.dirname, '..', '..', 'reports', 'reliability');

export function useTally(name: string): Figures {
  const figures: Figures = {
    scenarios: 0,
    fuzzCases: 0,
    faultsInjected: 0,
    jobsCreated: 0,
    logicalCalls: 0,
    leaks: 0,
    crashes: 0,
  };
  afterAll(() => {
    mkdirSync(REPORT_DIR, { recursive: true });
    writeFileSync(
      join(REPORT_DIR, `${name}.json`),
      `${JSON.stringify({ name, at: new Date().toISOString(), ...figures })}\n`,
    );
  });
  return figures;
}
