/**
 * Where each MCP client keeps its server list, and the entry that starts seedance-mcp in it: what `init` writes and
 * `doctor` looks for. Paths follow the environment (HOME, APPDATA, XDG_CONFIG_HOME, CODEX_HOME), so that tests and
 * unusual setups can point them elsewhere.
 */
import { join } from 'node:path';
import type { Platform } from '../app/config.js';

export const CLIENTS = ['claude-desktop', 'claude-code', 'cursor', 'vscode', 'codex'] as const;
export type ClientName = (typeof CLIENTS)[number];
export const SCOPES = ['user', 'project'] as const;
export type Scope = (typeof SCOPES)[number];

/** The entry's name in every client's list. */
export const SERVER_NAME = 'seedance';
export const KEY_VARIABLE = 'APIFRAME_API_KEY';
/** VS Code asks for the key once and keeps it in its secret storage; the file holds only this input's id. */
export const VSCODE_KEY_INPUT = {
  type: 'promptString',
  id: 'apiframe-key',
  description: 'Apiframe API key (afk_...)',
  password: true,
} as const;

export interface ClientFile {
  client: ClientName;
  scope: Scope;
  path: string;
  format: 'json' | 'toml';
  /** The table or object holding the servers. */
  serversKey: 'mcpServers' | 'servers' | 'mcp_servers';
  /** A project file, usually committed: it must never hold the key itself. */
  shared: boolean;
}

/** Where `client` keeps its servers for `scope`; undefined when it has no such scope. */
export function clientFile(
  client: ClientName,
  scope: Scope,
  where: Platform,
  cwd: string,
): ClientFile | undefined {
  const { platform, home, env } = where;
  const file = (
    path: string,
    serversKey: ClientFile['serversKey'],
    format: ClientFile['format'] = 'json',
  ) => ({
    client,
    scope,
    path,
    format,
    serversKey,
    shared: scope === 'project',
  });
  switch (client) {
    case 'claude-desktop': {
      if (scope === 'project') return undefined;
      const base =
        platform === 'darwin'
          ? join(home, 'Library', 'Application Support')
          : platform === 'win32'
            ? (env.APPDATA ?? join(home, 'AppData', 'Roaming'))
            : (env.XDG_CONFIG_HOME ?? join(home, '.config'));
      return file(join(base, 'Claude', 'claude_desktop_config.json'), 'mcpServers');
    }
    case 'claude-code':
      return scope === 'user'
        ? file(join(home, '.claude.json'), 'mcpServers')
        : file(join(cwd, '.mcp.json'), 'mcpServers');
    case 'cursor':
      return scope === 'user'
        ? file(join(home, '.cursor', 'mcp.json'), 'mcpServers')
        : file(join(cwd, '.cursor', 'mcp.json'), 'mcpServers');
    case 'vscode':
      // VS Code's own servers file is the workspace's; its user-level one lives in the profile folder.
      return scope === 'project' ? file(join(cwd, '.vscode', 'mcp.json'), 'servers') : undefined;
    case 'codex':
      return scope === 'user'
        ? file(join(env.CODEX_HOME ?? join(home, '.codex'), 'config.toml'), 'mcp_servers', 'toml')
        : file(join(cwd, '.codex', 'config.toml'), 'mcp_servers', 'toml');
  }
}

/** The scope `init` uses when none is asked for: the one each client documents first. */
export function defaultScope(client: ClientName): Scope {
  return client === 'vscode' ? 'project' : 'user';
}

/** Every file a client could start this server from, for `doctor`. */
export function allClientFiles(where: Platform, cwd: string): ClientFile[] {
  return CLIENTS.flatMap((client) =>
    SCOPES.map((scope) => clientFile(client, scope, where, cwd)).filter((f) => f !== undefined),
  );
}

export interface ServerEntry {
  type?: 'stdio';
  command: string;
  args: string[];
  env?: Record<string, string>;
}

export interface EntryOptions {
  /** The key to write, for files in the user's home only. */
  apiKey: string | undefined;
  budgetCredits: number | undefined;
  simulate: boolean;
}

/**
 * The entry that starts the published package. Windows clients start commands without a shell, and `npx` there is a
 * .cmd script that only a shell runs.
 */
export function serverEntry(file: ClientFile, platform: NodeJS.Platform, options: EntryOptions): ServerEntry {
  const npx = ['npx', '-y', 'seedance-mcp', ...(options.simulate ? ['--simulate'] : [])];
  const [command, ...args] = platform === 'win32' ? ['cmd', '/c', ...npx] : npx;
  const env: Record<string, string> = {};
  if (options.simulate) {
    // The simulator needs no key.
  } else if (file.client === 'vscode') env[KEY_VARIABLE] = `\${input:${VSCODE_KEY_INPUT.id}}`;
  // Claude Code expands ${VAR} from its own environment in .mcp.json; Cursor and Codex read theirs from the project
  // file as written, so there the key is left to the environment the client passes on.
  else if (file.shared && file.client === 'claude-code') env[KEY_VARIABLE] = `\${${KEY_VARIABLE}}`;
  else if (!file.shared && options.apiKey !== undefined) env[KEY_VARIABLE] = options.apiKey;
  if (options.budgetCredits !== undefined) env.SEEDANCE_BUDGET_CREDITS = String(options.budgetCredits);
  return {
    ...(file.client === 'claude-code' || file.client === 'vscode' ? { type: 'stdio' as const } : {}),
    command: command ?? 'npx',
    args,
    ...(Object.keys(env).length > 0 ? { env } : {}),
  };
}

/** Whether an entry of any name starts this server: its own name, or seedance-mcp in its command line. */
export function startsThisServer(name: string, entry: unknown): boolean {
  if (name === SERVER_NAME) return true;
  if (entry === null || typeof entry !== 'object') return false;
  const { command, args } = entry as { command?: unknown; args?: unknown };
  const words = [command, ...(Array.isArray(args) ? args : [])].filter((w) => typeof w === 'string');
  return words.some((w) => /seedance-mcp/.test(w));
}
