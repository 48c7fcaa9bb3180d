/**
 * `seedance-mcp init <client>` on temporary home and project folders: merged with what is there, other servers and
 * settings kept, a backup left, `--print` writing nothing, and the key never in a file usually committed.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Platform } from '../src/app/config.js';
import { clientFile } from '../src/commands/clients.js';
import { type CommandContext, parseInitArgs, runInit } from '../src/commands/init.js';
import { PATH_WITH_THIS_NODE } from './helpers/installed.js';

const KEY = 'afk_init_test_secret_0123';
const BIN = new URL('../dist/cli.js', import.meta.url).pathname;
const run = promisify(execFile);

let root: string;
let home: string;
let project: string;
let output: string[];

beforeEach(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'seedance-init-')));
  home = join(root, 'home');
  project = join(root, 'project');
  await mkdir(home, { recursive: true });
  await mkdir(project, { recursive: true });
  output = [];
});

afterEach(() => rm(root, { recursive: true, force: true }));

function context(env: Record<string, string> = {}, platform: NodeJS.Platform = 'linux'): CommandContext {
  const where: Platform = { platform, home, env };
  return {
    where,
    cwd: project,
    out: (line) => output.push(line),
    err: (line) => output.push(line),
    now: () => new Date('2026-11-30T12:00:00Z'),
  };
}

const init = (args: string[], env: Record<string, string> = { APIFRAME_API_KEY: KEY }) =>
  runInit(parseInitArgs(args), context(env));

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

const json = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const backups = async (path: string) => (await readdir(dirname(path))).filter((f) => f.endsWith('.bak'));

describe('seedance-mcp init', () => {
  it('claude-desktop: merges into the existing file, keeps other servers and settings, and leaves a backup', async () => {
    const path = join(home, '.config', 'Claude', 'claude_desktop_config.json');
    const before = JSON.stringify({
      globalShortcut: 'Ctrl+Space',
      mcpServers: { other: { command: 'other-server', args: ['--x'] } },
    });
    await put(path, before);
    await init(['claude-desktop']);
    expect(await json(path)).toEqual({
      globalShortcut: 'Ctrl+Space',
      mcpServers: {
        other: { command: 'other-server', args: ['--x'] },
        seedance: { command: 'npx', args: ['-y', 'seedance-mcp'], env: { APIFRAME_API_KEY: KEY } },
      },
    });
    const [backup] = await backups(path);
    expect(backup).toBe('claude_desktop_config.json.2026-11-30T12-00-00-000Z.bak');
    expect(await readFile(join(dirname(path), backup ?? ''), 'utf8')).toBe(before);
    expect(output.join('\n')).not.toContain(KEY);
  });

  it('claude-desktop: the file of each OS (XDG_CONFIG_HOME on Linux, APPDATA on Windows, Library on macOS)', () => {
    const where = (platform: NodeJS.Platform, env: Record<string, string> = {}) => ({ platform, home, env });
    expect(
      clientFile('claude-desktop', 'user', where('linux', { XDG_CONFIG_HOME: '/xdg' }), project)?.path,
    ).toBe('/xdg/Claude/claude_desktop_config.json');
    expect(clientFile('claude-desktop', 'user', where('darwin'), project)?.path).toBe(
      join(home, 'Library', 'Application Support', 'Claude', 'claude_desktop_config.json'),
    );
    expect(clientFile('claude-desktop', 'user', where('win32', { APPDATA: '/appdata' }), project)?.path).toBe(
      join('/appdata', 'Claude', 'claude_desktop_config.json'),
    );
    expect(clientFile('codex', 'user', where('linux', { CODEX_HOME: '/codex' }), project)?.path).toBe(
      '/codex/config.toml',
    );
  });

  it('on Windows, npx is started through cmd', async () => {
    await runInit(parseInitArgs(['cursor']), context({}, 'win32'));
    expect((await json(join(home, '.cursor', 'mcp.json'))).mcpServers.seedance).toEqual({
      command: 'cmd',
      args: ['/c', 'npx', '-y', 'seedance-mcp'],
    });
  });

  it('claude-code: user scope writes ~/.claude.json keeping its other keys; a second run replaces, not duplicates', async () => {
    const path = join(home, '.claude.json');
    await put(path, JSON.stringify({ numStartups: 3, projects: { '/x': { mcpServers: {} } } }));
    await init(['claude-code', '--budget', '500']);
    await init(['claude-code', '--budget', '800']);
    const doc = await json(path);
    expect(doc).toMatchObject({ numStartups: 3, projects: { '/x': { mcpServers: {} } } });
    expect(doc.mcpServers).toEqual({
      seedance: {
        type: 'stdio',
        command: 'npx',
        args: ['-y', 'seedance-mcp'],
        env: { APIFRAME_API_KEY: KEY, SEEDANCE_BUDGET_CREDITS: '800' },
      },
    });
    expect(await backups(path)).toHaveLength(1);
    expect(output.some((l) => l.startsWith('Updated "seedance"'))).toBe(true);
  });

  it('claude-code project scope: .mcp.json gets a reference to the environment, never the key', async () => {
    await init(['claude-code', '--scope', 'project']);
    const text = await readFile(join(project, '.mcp.json'), 'utf8');
    expect(text).not.toContain(KEY);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the client's own reference syntax
    expect(JSON.parse(text).mcpServers.seedance.env).toEqual({ APIFRAME_API_KEY: '${APIFRAME_API_KEY}' });
    expect((await stat(join(project, '.mcp.json'))).mode & 0o777).toBe(0o644);
  });

  it('vscode: .vscode/mcp.json uses a password input for the key, keeping the inputs and servers there', async () => {
    const path = join(project, '.vscode', 'mcp.json');
    await put(
      path,
      JSON.stringify({
        inputs: [{ type: 'promptString', id: 'gh-token', password: true }],
        servers: { github: { type: 'http', url: 'https://example.test/mcp' } },
      }),
    );
    await init(['vscode']);
    await init(['vscode']);
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(KEY);
    const doc = JSON.parse(text);
    expect(doc.servers.github).toEqual({ type: 'http', url: 'https://example.test/mcp' });
    expect(doc.servers.seedance).toMatchObject({
      type: 'stdio',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the client's own reference syntax
      env: { APIFRAME_API_KEY: '${input:apiframe-key}' },
    });
    expect(doc.inputs).toEqual([
      { type: 'promptString', id: 'gh-token', password: true },
      { type: 'promptString', id: 'apiframe-key', description: 'Apiframe API key (afk_...)', password: true },
    ]);
  });

  it('codex: merges [mcp_servers.seedance] into config.toml, keeping comments, settings and other servers', async () => {
    const path = join(home, '.codex', 'config.toml');
    const before = [
      '# my codex settings',
      'model = "gpt-5"',
      '',
      '[mcp_servers.docs]',
      'command = "docs-server"',
      '',
      '[mcp_servers.seedance]',
      'command = "old"',
      '',
      '[mcp_servers.seedance.env]',
      'APIFRAME_API_KEY = "afk_old"',
      '',
      '[profiles.fast] # a comment after a header',
      'model = "gpt-5-mini"',
    ].join('\n');
    await put(path, before);
    await init(['codex']);
    const text = await readFile(path, 'utf8');
    expect(text).toContain('# my codex settings');
    expect(text).toContain('# a comment after a header');
    expect(text).not.toContain('afk_old');
    expect(parseToml(text)).toEqual({
      model: 'gpt-5',
      mcp_servers: {
        docs: { command: 'docs-server' },
        seedance: { command: 'npx', args: ['-y', 'seedance-mcp'], env: { APIFRAME_API_KEY: KEY } },
      },
      profiles: { fast: { model: 'gpt-5-mini' } },
    });
    expect(await readFile(join(dirname(path), (await backups(path))[0] ?? ''), 'utf8')).toBe(before);
  });

  it('codex: an entry written in a form it does not rewrite is refused, the file untouched', async () => {
    const path = join(home, '.codex', 'config.toml');
    const before = 'mcp_servers.seedance.command = "mine"\n';
    await put(path, before);
    await expect(init(['codex'])).rejects.toThrow(/dotted keys or an inline table/);
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await backups(path)).toEqual([]);
  });

  it('a file that is not valid JSON is refused and left as it was', async () => {
    const path = join(home, '.cursor', 'mcp.json');
    await put(path, '{ "mcpServers": { // a comment\n } }');
    await expect(init(['cursor'])).rejects.toThrow(/not valid JSON/);
    expect(await readFile(path, 'utf8')).toBe('{ "mcpServers": { // a comment\n } }');
  });

  it('--print writes nothing and shows the entry with a placeholder for the key', async () => {
    await init(['cursor', '--print']);
    expect(await readdir(home)).toEqual([]);
    const printed = output.join('\n');
    expect(printed).toContain(`Add this to ${join(home, '.cursor', 'mcp.json')}:`);
    expect(printed).toContain('"APIFRAME_API_KEY": "afk_your_key"');
    expect(printed).not.toContain(KEY);
    output = [];
    await init(['codex', '--print']);
    expect(output.join('\n')).toContain('[mcp_servers.seedance]');
  });

  it('without a key in the environment, writes no key and says how to add one; --simulate needs none', async () => {
    await init(['cursor'], {});
    expect((await json(join(home, '.cursor', 'mcp.json'))).mcpServers.seedance.env).toBeUndefined();
    expect(output.join('\n')).toMatch(/APIFRAME_API_KEY was not set/);
    await init(['claude-code', '--simulate'], {});
    expect((await json(join(home, '.claude.json'))).mcpServers.seedance.args).toEqual([
      '-y',
      'seedance-mcp',
      '--simulate',
    ]);
  });

  it('refuses an unknown client or scope with the usage', () => {
    expect(() => parseInitArgs(['emacs'])).toThrow(/init needs one client/);
    expect(() => parseInitArgs(['vscode', '--scope', 'user'])).not.toThrow();
    expect(() => parseInitArgs(['cursor', '--scope', 'team'])).toThrow(/--scope is user or project/);
  });

  it('runs from the built binary, following HOME', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'init', 'cursor'], {
      cwd: project,
      env: { PATH: PATH_WITH_THIS_NODE, HOME: home, APIFRAME_API_KEY: KEY },
    });
    expect(stdout).toContain(`Added "seedance" in ${join(home, '.cursor', 'mcp.json')}`);
    expect((await json(join(home, '.cursor', 'mcp.json'))).mcpServers.seedance.env.APIFRAME_API_KEY).toBe(
      KEY,
    );
    expect((await stat(join(home, '.cursor', 'mcp.json'))).mode & 0o777).toBe(0o600);
  });
});
