/**
 * Reading and merging a client's configuration file (JSON or TOML) without disturbing anything else in it: other
 * servers, other settings, and (in TOML) the comments and layout outside this server's own tables.
 */
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { ConfigFileError } from '../core/errors.js';
import { type ClientFile, SERVER_NAME, type ServerEntry, VSCODE_KEY_INPUT } from './clients.js';

type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The file's text, or undefined when there is none yet. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigFileError(path, `cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
}

/** The file parsed; an empty or missing file is an empty document. */
export function parseConfig(file: ClientFile, text: string | undefined): Doc {
  if (text === undefined || text.trim() === '') return {};
  let doc: unknown;
  try {
    doc = file.format === 'toml' ? parseToml(text) : JSON.parse(text);
  } catch (error) {
    const hint = file.format === 'json' ? ' (comments or trailing commas are not read here)' : '';
    throw new ConfigFileError(
      file.path,
      `is not valid ${file.format.toUpperCase()}${hint}: ${(error as Error).message}`,
    );
  }
  if (!isObject(doc)) throw new ConfigFileError(file.path, 'does not hold an object at its top level');
  return doc;
}

/** The servers listed in a parsed file, by name. */
export function serversIn(file: ClientFile, doc: Doc): Doc {
  const servers = doc[file.serversKey];
  return isObject(servers) ? servers : {};
}

export interface Merged {
  text: string;
  /** Whether an entry of this name was there before (and is replaced). */
  replaced: boolean;
}

/** The file's new text: this server's entry put in (replacing an older one of the same name), all else kept. */
export function mergeEntry(file: ClientFile, text: string | undefined, entry: ServerEntry): Merged {
  const doc = parseConfig(file, text);
  const servers = doc[file.serversKey];
  if (servers !== undefined && !isObject(servers)) {
    throw new ConfigFileError(file.path, `"${file.serversKey}" is not an object`);
  }
  const replaced = servers !== undefined && SERVER_NAME in servers;
  if (file.format === 'toml') return { text: mergeToml(file, text ?? '', doc, entry), replaced };
  const merged: Doc = { ...doc, [file.serversKey]: { ...servers, [SERVER_NAME]: entry } };
  if (file.client === 'vscode') {
    const inputs = Array.isArray(doc.inputs) ? doc.inputs : [];
    merged.inputs = [
      ...inputs.filter((i) => !(isObject(i) && i.id === VSCODE_KEY_INPUT.id)),
      { ...VSCODE_KEY_INPUT },
    ];
  }
  return { text: `${JSON.stringify(merged, null, 2)}\n`, replaced };
}

/**
 * TOML is edited as text, so that comments and the user's layout survive: this server's tables
 * (`[mcp_servers.seedance]` and its sub-tables) are removed and the new ones appended. The result is parsed again
 * and must equal the old document with only this entry changed; anything else (the entry written as dotted keys or
 * an inline table, say) is refused rather than guessed at.
 */
function mergeToml(file: ClientFile, text: string, before: Doc, entry: ServerEntry): string {
  const ours = new RegExp(
    `^\\s*\\[\\s*${file.serversKey}\\s*\\.\\s*("${SERVER_NAME}"|${SERVER_NAME})\\s*(\\]|\\.)`,
  );
  const anyHeader = /^\s*\[/;
  const kept: string[] = [];
  let inOurs = false;
  for (const line of text.split(/\r?\n/)) {
    if (anyHeader.test(line)) inOurs = ours.test(line);
    if (!inOurs) kept.push(line);
  }
  const body = kept.join('\n').replace(/\s*$/, '');
  const block = stringifyToml({ [file.serversKey]: { [SERVER_NAME]: entry } }).trim();
  const result = `${body === '' ? '' : `${body}\n\n`}${block}\n`;
  // Unparsable when the old entry, left in place in another form, clashes with the new tables.
  let after: unknown;
  try {
    after = parseToml(result);
  } catch {
    after = undefined;
  }
  const expected: Doc = {
    ...before,
    [file.serversKey]: { ...serversIn(file, before), [SERVER_NAME]: entry },
  };
  if (JSON.stringify(sortKeys(after)) !== JSON.stringify(sortKeys(expected))) {
    throw new ConfigFileError(
      file.path,
      `defines "${SERVER_NAME}" in a form this command does not rewrite (dotted keys or an inline table)`,
    );
  }
  return result;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys(value[k])]),
  );
}

/**
 * Writes the new text: a copy of the old file beside it first (`<file>.<time>.bak`), then a temporary file renamed
 * into place, so that a crash leaves either the old file or the new one. A new file holding a key is private (0600).
 */
export async function writeConfig(
  filePath: string,
  text: string,
  options: { holdsSecret: boolean; now: Date },
): Promise<{ backup: string | undefined }> {
  await mkdir(dirname(filePath), { recursive: true });
  const mode = await stat(filePath).then(
    (s) => s.mode & 0o777,
    () => undefined,
  );
  let backup: string | undefined;
  if (mode !== undefined) {
    backup = `${filePath}.${options.now.toISOString().replace(/[:.]/g, '-')}.bak`;
    await copyFile(filePath, backup);
  }
  const temporary = `${filePath}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: mode ?? (options.holdsSecret ? 0o600 : 0o644) });
  await rename(temporary, filePath);
  return { backup };
}
