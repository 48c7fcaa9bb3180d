/**
 * The Claude Desktop bundle (.mcpb) as a user gets it: packed by scripts/bundle.ts with `mcpb pack`, its manifest
 * validated by `mcpb validate`, unpacked by `mcpb unpack`, then started as a host starts it: the manifest's
 * mcp_config with `${__dirname}` and the user's settings substituted by @anthropic-ai/mcpb's own
 * getMcpConfigForManifest (the code Claude Desktop uses), optional settings left empty dropped, and a video made.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';
import { getMcpConfigForManifest, type McpbManifestAny } from '@anthropic-ai/mcpb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, MCPB_CLI, sha256File } from '../scripts/bundle.js';
import { MANIFEST_PATH } from '../scripts/release-files.js';
import { loadConfig } from '../src/app/config.js';
import { makeVideo, type Started, startInstalled } from './helpers/installed.js';
import { readJson, validateServerJson } from './helpers/registry.js';

const run = promisify(execFile);
const mcpb = (args: string[]) => run(process.execPath, [MCPB_CLI, ...args]);

let work: string;
let built: { path: string; sha256: string };
let unpacked: string;
const started: Started[] = [];

beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'seedance-mcpb-test-')));
  built = await bundle({ outDir: work, serverJsonPath: join(work, 'server.json'), build: false });
  unpacked = join(work, 'unpacked');
  await mcpb(['unpack', built.path, unpacked]);
}, 120_000);

afterAll(async () => {
  await Promise.all(started.map((s) => s.client.close()));
  await rm(work, { recursive: true, force: true });
});

/** The host's variables: its own folders, the user's settings; what is still a placeholder after that is left out. */
async function hostConfig(home: string, userConfig: Record<string, string | number | boolean>) {
  const manifest = readJson(join(unpacked, 'manifest.json')) as unknown as McpbManifestAny;
  const config = await getMcpConfigForManifest({
    manifest,
    extensionPath: unpacked,
    systemDirs: { HOME: home, DESKTOP: join(home, 'Desktop'), DOCUMENTS: join(home, 'Documents') },
    userConfig,
    pathSeparator: sep,
  });
  if (config === undefined) throw new Error('the host would not start the bundle: required settings missing');
  const env = Object.fromEntries(
    Object.entries(config.env ?? {}).filter(([, value]) => value !== '' && !value.includes('${user_config.')),
  );
  return { command: config.command, args: config.args ?? [], env };
}

describe('the .mcpb bundle', () => {
  it('has a manifest that mcpb validate accepts', async () => {
    const { stdout } = await mcpb(['validate', MANIFEST_PATH]);
    expect(stdout).toMatch(/Manifest schema validation passes/);
  });

  it('is named by its version, and server.json gets its true sha256', async () => {
    const version = (readJson(MANIFEST_PATH) as { version: string }).version;
    expect(built.path).toBe(join(work, `seedance-mcp-${version}.mcpb`));
    expect(built.sha256).toBe(await sha256File(built.path));
    const serverJson = readJson(join(work, 'server.json'));
    expect(validateServerJson(serverJson)).toEqual([]);
    const packages = serverJson.packages as { registryType: string; fileSha256?: string }[];
    expect(packages.find((p) => p.registryType === 'mcpb')?.fileSha256).toBe(built.sha256);
  });

  it('holds only what it runs on: manifest, dist with the notices, assets, LICENSE, a package.json without dependencies', async () => {
    expect((await readdir(unpacked)).sort()).toEqual([
      'LICENSE',
      'assets',
      'dist',
      'manifest.json',
      'package.json',
    ]);
    expect(await readdir(join(unpacked, 'dist'))).toContain('THIRD_PARTY_NOTICES.md');
    expect(await readdir(join(unpacked, 'assets'))).toContain('icon.png');
    const pkg = JSON.parse(await readFile(join(unpacked, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: 'seedance-mcp', type: 'module' });
    expect(pkg.dependencies).toBeUndefined();
    expect(readJson(join(unpacked, 'manifest.json'))).toEqual(readJson(MANIFEST_PATH));
  });

  it('starts as Claude Desktop starts it and makes a (simulated) video in the chosen folder', async () => {
    const home = join(work, 'home');
    const { command, args, env } = await hostConfig(home, {
      simulate: true,
      output_dir: join(home, 'Movies'),
      allowed_dir: home,
      budget_credits: 100,
    });
    expect(args).toEqual([join(unpacked, 'dist', 'cli.js')]);
    // Left empty by the user: the key; budget_period and simulate come from their defaults.
    expect(Object.keys(env).sort()).toEqual([
      'SEEDANCE_ALLOWED_DIRS',
      'SEEDANCE_BUDGET_CREDITS',
      'SEEDANCE_BUDGET_PERIOD',
      'SEEDANCE_OUTPUT_DIR',
      'SEEDANCE_SIMULATE',
    ]);
    const server = await startInstalled(command, args, {
      HOME: home,
      SEEDANCE_SIMULATED_JOB_SECONDS: '0',
      ...env,
    });
    started.push(server);
    const out = await makeVideo(server.client);
    expect(out).toMatchObject({ status: 'completed', simulated: true, budget: { spent: 16, remaining: 84 } });
    expect(out.video?.path.startsWith(join(home, 'Movies'))).toBe(true);
  });

  it('a setting the user left empty reaches the server as its bare placeholder, which means unset', () => {
    const unfilled = (key: string) => `\${user_config.${key}}`;
    const config = loadConfig({
      platform: 'linux',
      home: '/home/user',
      env: {
        SEEDANCE_BUDGET_CREDITS: unfilled('budget_credits'),
        APIFRAME_API_KEY: unfilled('api_key'),
      },
    });
    expect(config.budgetCredits).toBeUndefined();
    expect(config.apiKey).toBeUndefined();
  });
});
