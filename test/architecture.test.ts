/**
 * The layers of docs/layers.json hold: the page shows them, src/ is made of them, and `npm run check`
 * (dependency-cruiser with .dependency-cruiser.mjs) fails on an import against them, on a cycle, and on drift.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { diagramEntries, layerDrift, layerNames, readLayers } from '../scripts/layers.mjs';

const ROOT = join(import.meta.dirname, '..');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const run = promisify(execFile);
const copies: string[] = [];

afterAll(() => Promise.all(copies.map((dir) => rm(dir, { recursive: true, force: true }))));

/** The layer check as `npm run check` runs it, in `cwd`. */
async function layerCheck(cwd: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [DEPCRUISE, 'src', '--config', '.dependency-cruiser.mjs'],
      { cwd },
    );
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A copy of what the check reads, with one file changed. */
async function treeWith(change: (dir: string) => Promise<void>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'seedance-layers-'));
  copies.push(dir);
  for (const entry of ['src', 'docs', 'scripts', 'tsconfig.json', '.dependency-cruiser.mjs'])
    await cp(join(ROOT, entry), join(dir, entry), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  await change(dir);
  return dir;
}

async function prepend(file: string, line: string): Promise<void> {
  await writeFile(file, `${line}\n${await readFile(file, 'utf8')}`);
}

describe('the layer list', () => {
  it('is the diagram of docs/ARCHITECTURE.md and the folder list of src/', async () => {
    const page = await readFile(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8');
    expect(diagramEntries(page)).toEqual(layerNames(readLayers()));
    expect(layerDrift()).toEqual([]);
  });
});

describe('npm run check enforces the layers', () => {
  it('passes on the tree as it is', async () => {
    const result = await layerCheck(ROOT);
    expect(result.output).toContain('no dependency violations found');
    expect(result.ok).toBe(true);
  });

  it('fails on an import from a layer below, from the simulator into the stack, and on a cycle', async () => {
    const dir = await treeWith(async (d) => {
      await prepend(join(d, 'src/core/log.ts'), "import '../mcp/server.js';");
      await prepend(join(d, 'src/simulator/clock.ts'), "import '../jobs/feed/feed.js';");
      await prepend(join(d, 'src/domain/pricing.ts'), "import './media.js';");
      await prepend(join(d, 'src/domain/media.ts'), "import './pricing.js';");
    });
    const result = await layerCheck(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/layer-core: src\/core\/log\.ts → src\/mcp\/server\.ts/);
    expect(result.output).toMatch(/beside-simulator: src\/simulator\/clock\.ts → src\/jobs\/feed\/feed\.ts/);
    expect(result.output).toMatch(/no-cycles: src\/domain\/(media|pricing)\.ts/);
  });

  it('fails when src/ or the page drift from the list', async () => {
    const extraFolder = await treeWith(async (d) => {
      await mkdir(join(d, 'src/extra'));
      await writeFile(join(d, 'src/extra/x.ts'), 'export const x = 1;\n');
    });
    const page = await treeWith(async (d) => {
      const file = join(d, 'docs/ARCHITECTURE.md');
      await writeFile(file, (await readFile(file, 'utf8')).replace(' jobs/ ', ' tasks/'));
    });
    const [folder, diagram] = await Promise.all([layerCheck(extraFolder), layerCheck(page)]);
    expect(folder.ok).toBe(false);
    expect(folder.output).toMatch(/src\/ holds \[.*extra.*\]/);
    expect(diagram.ok).toBe(false);
    expect(diagram.output).toMatch(/docs\/ARCHITECTURE\.md shows \[.*tasks.*\]/);
  });
});
