/**
 * The reliability suite's figures. Each test file keeps a Tally, and writes it once at the end to
 * reports/reliability/<file>.json; scripts/reliability-table.ts adds them up and prints the table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { emptyFigures, type Figures, REPORT_DIR } from './figures.js';

export function useTally(name: string): Figures {
  const figures = emptyFigures();
  afterAll(() => {
    mkdirSync(REPORT_DIR, { recursive: true });
    writeFileSync(
      join(REPORT_DIR, `${name}.json`),
      `${JSON.stringify({ name, at: new Date().toISOString(), ...figures })}\n`,
    );
  });
  return figures;
}
