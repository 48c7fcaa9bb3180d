/**
 * `seedance-mcp init <client>`: puts this server's entry into the client's configuration file, merged with what is
 * there (other servers untouched, the old file kept as a backup), or with `--print` shows it. The key is written only
 * into files in the user's home; a project file, usually committed, gets a reference instead (an environment
 * variable, or VS Code's secret input).
 */
import { parseArgs } from 'node:util';
import { stringify as stringifyToml } from 'smol-toml';
import { type Platform, SETTINGS } from '../app/config.js';
import { UsageError } from '../core/errors.js';
import {
  CLIENTS,
  type ClientName,
  clientFile,
  defaultScope,
  KEY_VARIABLE,
  SCOPES,
  type Scope,
  SERVER_NAME,
  serverEntry,
  VSCODE_KEY_INPUT,
} from './clients.js';
import { mergeEntry, readText, writeConfig } from './config-files.js';

export const INIT_USAGE = `seedance-mcp init <${CLIENTS.join(' | ')}> [--scope user|project] [--print] [--budget N] [--simulate]`;

export interface InitOptions {
  client: ClientName;
  scope: Scope;
  print: boolean;
  budgetCredits: number | undefined;
  simulate: boolean;
}

export interface CommandContext {
  where: Platform;
  cwd: string;
  out: (line: string) => void;
  err: (line: string) => void;
  now: () => Date;
}

export function parseInitArgs(args: string[]): InitOptions {
  const { values, positionals } = parseArgs({
    args,
    options: {
      scope: { type: 'string' },
      print: { type: 'boolean' },
      budget: { type: 'string' },
      simulate: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [client, ...extra] = positionals;
  if (client === undefined || !(CLIENTS as readonly string[]).includes(client) || extra.length > 0) {
    throw new UsageError(`init needs one client: ${CLIENTS.join(', ')}`, INIT_USAGE);
  }
  const scope = values.scope ?? defaultScope(client as ClientName);
  if (!(SCOPES as readonly string[]).includes(scope))
    throw new UsageError('--scope is user or project', INIT_USAGE);
  const budget = values.budget === undefined ? undefined : Number(values.budget);
  if (budget !== undefined && !(Number.isInteger(budget) && budget >= 0)) {
    throw new UsageError('--budget is a whole number of credits', INIT_USAGE);
  }
  return {
    client: client as ClientName,
    scope: scope as Scope,
    print: values.print === true,
    budgetCredits: budget,
    simulate: values.simulate === true,
  };
}

/** Shown instead of a key in printed entries: output that may end up in a terminal log, an issue or a chat. */
const KEY_PLACEHOLDER = 'afk_your_key';

export async function runInit(options: InitOptions, ctx: CommandContext): Promise<void> {
  const file = clientFile(options.client, options.scope, ctx.where, ctx.cwd);
  if (file === undefined) {
    throw new UsageError(
      `${options.client} has no ${options.scope}-scope configuration file that init writes`,
      INIT_USAGE,
    );
  }
  const apiKey = SETTINGS.apiKey.parse(ctx.where.env[KEY_VARIABLE], ctx.where);
  const entryOptions = { budgetCredits: options.budgetCredits, simulate: options.simulate };

  if (options.print) {
    const entry = serverEntry(file, ctx.where.platform, {
      ...entryOptions,
      apiKey: options.simulate ? undefined : KEY_PLACEHOLDER,
    });
    const snippet = { [file.serversKey]: { [SERVER_NAME]: entry } };
    ctx.err(`Add this to ${file.path}:`);
    if (file.format === 'toml') ctx.out(stringifyToml(snippet).trim());
    else {
      const withInputs = file.client === 'vscode' ? { inputs: [VSCODE_KEY_INPUT], ...snippet } : snippet;
      ctx.out(JSON.stringify(withInputs, null, 2));
    }
    return;
  }

  const entry = serverEntry(file, ctx.where.platform, { ...entryOptions, apiKey });
  const before = await readText(file.path);
  const { text, replaced } = mergeEntry(file, before, entry);
  const holdsSecret = apiKey !== undefined && entry.env?.[KEY_VARIABLE] === apiKey;
  const { backup } = await writeConfig(file.path, text, { holdsSecret, now: ctx.now() });
  ctx.out(
    `${replaced ? 'Updated' : 'Added'} "${SERVER_NAME}" in ${file.path} (${options.client}, ${options.scope} scope).`,
  );
  if (backup !== undefined) ctx.out(`The previous file is kept as ${backup}.`);
  if (options.simulate) {
    ctx.out(
      'It runs against the built-in simulator: no key, no cost. Run init again without --simulate for real videos.',
    );
  } else if (file.client === 'vscode') {
    ctx.out(
      'VS Code asks for the Apiframe key when it first starts the server, and keeps it in its secret storage.',
    );
  } else if (file.shared) {
    ctx.out(
      `The key is not written into this file, which is usually committed: ${options.client} passes ${KEY_VARIABLE} on from the environment it starts in.`,
    );
  } else if (apiKey === undefined) {
    ctx.out(
      `${KEY_VARIABLE} was not set, so no key was written: add it to the entry's env, or run init again with it set.`,
    );
  }
  ctx.out(`Restart ${options.client} to load it; \`seedance-mcp doctor\` checks the setup.`);
}
