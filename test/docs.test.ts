/** The README's generated sections and the tools/list snapshot must match the code: schema changes are deliberate. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { documentedConfig, README_PATH, renderReadme } from '../scripts/readme.js';
import { toolListing } from '../src/mcp/server.js';
import { buildTools } from '../src/mcp/tools/index.js';

describe('generated documentation', () => {
  it('README.md is up to date with the tools, settings and prices (npm run readme)', () => {
    const current = readFileSync(README_PATH, 'utf8');
    expect(renderReadme(current) === current, 'README.md is stale: run npm run readme').toBe(true);
  });

  it('tools/list matches the committed snapshot (update it with vitest -u when the change is meant)', async () => {
    const listing = toolListing(buildTools(documentedConfig()));
    await expect(`${JSON.stringify(listing, null, 2)}\n`).toMatchFileSnapshot(
      '__snapshots__/tools-list.json',
    );
  });

  it('every setting the code reads is documented, and the README names no setting the code lacks', () => {
    const readme = readFileSync(README_PATH, 'utf8');
    // The server's settings, and the one the tests read (a PostgreSQL of your own, in Development).
    const source = ['../src/app/config.ts', './helpers/postgres-setup.ts']
      .map((f) => readFileSync(new URL(f, import.meta.url), 'utf8'))
      .join('\n');
    const inCode = new Set(source.match(/\b(?:APIFRAME|SEEDANCE)_[A-Z_]+\b/g));
    const inReadme = new Set(readme.match(/\b(?:APIFRAME|SEEDANCE)_[A-Z_]+\b/g));
    for (const name of inCode) expect(inReadme.has(name), `${name} missing from README`).toBe(true);
    for (const name of inReadme)
      expect(inCode.has(name), `README names ${name}, which the code does not read`).toBe(true);
  });
});
