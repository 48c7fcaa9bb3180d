/**
 * `npm run bundle`: builds, then packs the Claude Desktop bundle `seedance-mcp-<version>.mcpb` with `mcpb pack` from a
 * staging folder holding only what the bundle runs on (manifest, dist/ with its notices, assets/, LICENSE, and a
 * package.json without dependencies: the bundle needs none, and `"type": "module"` makes Node load dist/cli.js as ESM).
 * The bundle's sha256 goes into server.json, which the registry checks the downloaded file against: run it for a
 * release (the `version` script does) and publish that very file. Tests call `bundle()` with folders of their own.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  bundleFileName,
  json,
  ROOT,
  readPackageJson,
  renderManifest,
  renderServerJson,
  SERVER_JSON_PATH,
} from './release-files.js';

const run = promisify(execFile);

/** The mcpb command line of the installed @anthropic-ai/mcpb. */
export const MCPB_CLI = join(
  dirname(fileURLToPath(import.meta.resolve('@anthropic-ai/mcpb'))),
  'cli',
  'cli.js',
);

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/**
 * Builds (unless `build` is false: tests, whose setup built dist/ already and whose other files run it) and packs the
 * bundle; returns its path and sha256.
 */
export async function bundle(options: {
  outDir: string;
  serverJsonPath: string;
  build: boolean;
}): Promise<{ path: string; sha256: string }> {
  const { outDir, serverJsonPath } = options;
  if (options.build) await run(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT });
  const pkg = readPackageJson();
  const stage = await mkdtemp(join(tmpdir(), 'seedance-mcpb-'));
  try {
    // Rendered, not copied: the bundle carries the manifest of the code it is built from.
    await writeFile(join(stage, 'manifest.json'), json(renderManifest()));
    for (const entry of ['dist', 'assets', 'LICENSE']) {
      await cp(join(ROOT, entry), join(stage, entry), { recursive: true });
    }
    const { name, version, description, license, homepage, repository, engines, bin } =
      pkg as unknown as Record<string, unknown>;
    await writeFile(
      join(stage, 'package.json'),
      json({ name, version, description, license, homepage, repository, type: 'module', engines, bin }),
    );
    await mkdir(outDir, { recursive: true });
    const path = join(outDir, bundleFileName(pkg.version));
    await run(process.execPath, [MCPB_CLI, 'pack', stage, path]);
    const sha256 = await sha256File(path);
    await writeFile(serverJsonPath, json(renderServerJson(sha256)));
    return { path, sha256 };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { path, sha256 } = await bundle({ outDir: ROOT, serverJsonPath: SERVER_JSON_PATH, build: true });
  process.stdout.write(`${path}\nsha256 ${sha256} (in server.json)\n`);
}
