/**
 * The npm package as a user gets it: packed, installed from the tarball into an empty prefix without the network
 * (it has no dependencies to fetch), then the installed `seedance-mcp` bin driven over stdio in simulate mode.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVideo, PATH_WITH_THIS_NODE, type Started, startInstalled } from './helpers/installed.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const npm = (args: string[], cwd = ROOT) =>
  // npm runs on the Node running the tests; --ignore-scripts: the suite's setup built dist/ already, and other test
  // files are running it.
  run('npm', [...args, '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd,
    env: { ...process.env, PATH: PATH_WITH_THIS_NODE, npm_config_update_notifier: 'false' },
  });

let work: string;
let packed: { filename: string; files: { path: string }[]; size: number; unpackedSize: number };
let prefix: string;
let started: Started | undefined;

beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'seedance-pack-')));
  const { stdout } = await npm(['pack', '--json', '--pack-destination', work]);
  packed = (JSON.parse(stdout) as (typeof packed)[])[0] as typeof packed;
  prefix = join(work, 'prefix');
  await npm(['install', '--offline', '--prefix', prefix, join(work, packed.filename)], work);
}, 120_000);

afterAll(async () => {
  await started?.client.close();
  await rm(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('carries the bundle, its assets, README, CHANGELOG, LICENSE and the notices of what it bundles, and no source', () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const needed of [
      'package.json',
      'README.md',
      'CHANGELOG.md',
      'LICENSE',
      'dist/cli.js',
      'dist/THIRD_PARTY_NOTICES.md',
      'assets/icon.png',
      'assets/sim-video-16x9.mp4',
      'dist/server.js',
    ]) {
      expect(files).toContain(needed);
    }
    expect(files.filter((f) => /^(src|test|scripts|node_modules)\//.test(f))).toEqual([]);
  });

  it('installs with no dependency at all: the prefix holds exactly seedance-mcp', async () => {
    const installed = (await readdir(join(prefix, 'node_modules'))).filter((n) => !n.startsWith('.'));
    expect(installed).toEqual(['seedance-mcp']);
    const manifest = JSON.parse(
      await readFile(join(prefix, 'node_modules/seedance-mcp/package.json'), 'utf8'),
    );
    expect(manifest.dependencies ?? {}).toEqual({});
    const lock = JSON.parse(await readFile(join(prefix, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    expect(Object.keys(lock.packages).filter((k) => k !== '')).toEqual(['node_modules/seedance-mcp']);
  });

  it('names every bundled package with its license text', async () => {
    const notices = await readFile(
      join(prefix, 'node_modules/seedance-mcp/dist/THIRD_PARTY_NOTICES.md'),
      'utf8',
    );
    for (const name of ['@modelcontextprotocol/sdk', 'zod', 'busboy']) {
      expect(notices).toMatch(new RegExp(`^## ${name.replace('/', '\\/')} \\d`, 'm'));
    }
    expect(notices).toContain('Permission is hereby granted');
  });

  it('the installed bin serves MCP over stdio and makes a (simulated) video', async () => {
    const home = join(work, 'home');
    started = await startInstalled(join(prefix, 'node_modules', '.bin', 'seedance-mcp'), ['--simulate'], {
      HOME: home,
      SEEDANCE_OUTPUT_DIR: join(home, 'videos'),
      SEEDANCE_SIMULATED_JOB_SECONDS: '0',
    });
    const version = started.client.getServerVersion();
    expect(version?.name).toBe('seedance-mcp');
    const out = await makeVideo(started.client);
    expect(out).toMatchObject({ status: 'completed', simulated: true });
    expect(out.video?.path.startsWith(join(home, 'videos'))).toBe(true);
  });
});
