/**
 * Local files an agent names (for upload_asset and the reference fields) are read only inside the allowed
 * folders: SEEDANCE_ALLOWED_DIRS, narrowed by the client's MCP roots when it declares them. Symlinks are resolved
 * before the check, hidden files and folders are refused, and the file that is checked is the file that is read:
 * it is opened once, without following a final symlink, and every later check and read uses that handle.
 */
import { createHash } from 'node:crypto';
import { constants, type promises as fs, promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UploadSource } from '../apiframe/client.js';
import { FileRejectedError, PathNotAllowedError } from '../core/errors.js';
import {
  describeAcceptedFormats,
  formatBytes,
  type MediaType,
  SNIFF_BYTES,
  sniffMedia,
  UPLOAD_LIMITS,
} from '../domain/media.js';
import type { MediaKind } from '../domain/params.js';

export interface AccessScope {
  /** Real paths (symlinks resolved) of the folders files may come from. */
  allowedDirs: readonly string[];
  /** Real paths of the client's MCP roots, when it declared any: a file must be inside one of these too. */
  roots?: readonly string[] | undefined;
}

export interface LocalFile extends UploadSource {
  /** The real path that was opened. */
  path: string;
}

/** Real path of each folder that exists; a missing folder allows nothing. */
export async function realDirs(dirs: readonly string[]): Promise<string[]> {
  const real = await Promise.all(dirs.map((d) => fsp.realpath(d).catch(() => undefined)));
  return real.filter((d): d is string => d !== undefined);
}

/** An agent's path as an absolute path: `~/x`, `file:///x` and absolute paths; relative ones are ambiguous. */
export function expandPath(given: string): string {
  if (given.includes('\0'))
    throw new FileRejectedError('(path)', 'contains a NUL character', 'Give a plain file path.');
  let path = given;
  if (/^file:\/\//i.test(path)) {
    try {
      path = fileURLToPath(path);
    } catch {
      throw new FileRejectedError(given, 'is not a valid file:// URL', 'Give an absolute file path.');
    }
  } else if (path.startsWith('~/')) {
    path = `${homedir()}${sep}${path.slice(2)}`;
  }
  if (!isAbsolute(path)) {
    throw new FileRejectedError(
      given,
      'is a relative path, which this server cannot resolve reliably',
      'Give the absolute path of the file (for example /Users/me/Pictures/photo.png).',
    );
  }
  return resolve(path);
}

function within(dir: string, path: string): string | undefined {
  const rel = relative(dir, path);
  if (rel === '') return '';
  if (rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel;
}

function hiddenSegment(rel: string): string | undefined {
  return rel.split(sep).find((part) => part.startsWith('.'));
}

/** Checks the path against the scope and returns its real path; throws a message the agent can act on. */
export async function checkAccess(given: string, scope: AccessScope): Promise<string> {
  const lexical = expandPath(given);
  const allowed = [...scope.allowedDirs];
  // Nothing on disk is looked at for a caller allowed no folder: not even whether the path exists.
  if (allowed.length === 0) throw new PathNotAllowedError(given, allowed, 'local files are not read here');
  let real: string;
  try {
    real = await fsp.realpath(lexical);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Outside the allowed folders, a missing file gets the same answer as an existing one: no probing the disk.
    if (!allowed.some((dir) => within(dir, lexical) !== undefined))
      throw new PathNotAllowedError(given, allowed, 'is outside the folders this server may read');
    throw new FileRejectedError(
      given,
      code === 'ENOENT' ? 'no such file' : `cannot be resolved (${code})`,
      'Check the path: give the absolute path of an existing file.',
    );
  }
  const containing = allowed.map((dir) => ({ dir, rel: within(dir, real) })).find((m) => m.rel !== undefined);
  if (containing?.rel === undefined) {
    throw new PathNotAllowedError(
      given,
      allowed,
      'is outside the folders this server may read (symlinks resolved)',
    );
  }
  const hidden = hiddenSegment(containing.rel) ?? hiddenSegment(within(containing.dir, lexical) ?? '');
  if (hidden !== undefined) {
    throw new PathNotAllowedError(given, allowed, `is or lies in a hidden file or folder (${hidden})`);
  }
  if (scope.roots !== undefined && !scope.roots.some((root) => within(root, real) !== undefined)) {
    throw new PathNotAllowedError(given, scope.roots, "is outside the client's declared roots");
  }
  return real;
}

/**
 * Opens an allowed local media file for upload and checks it: a regular file with one link, a type Apiframe
 * accepts judged by its bytes, within that type's size limit, and of the kind the field needs.
 */
export async function openLocalMedia(
  given: string,
  scope: AccessScope,
  expectKind?: MediaKind,
): Promise<LocalFile> {
  const path = await checkAccess(given, scope);
  let handle: fs.FileHandle;
  try {
    // O_NOFOLLOW: the checked real path must not have become a symlink since. O_NONBLOCK: a FIFO must not hang us.
    handle = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FileRejectedError(
      given,
      code === 'EACCES' ? 'permission denied' : `cannot be opened (${code})`,
      'Check that the file exists and is readable.',
    );
  }
  try {
    return { given, path, handle, ...(await checkOpenFile(handle, given, expectKind)) };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function checkOpenFile(
  handle: fs.FileHandle,
  given: string,
  expectKind: MediaKind | undefined,
): Promise<{ size: number; type: MediaType }> {
  const stat = await handle.stat();
  if (!stat.isFile()) {
    throw new FileRejectedError(
      given,
      'is not a regular file',
      'Give the path of an ordinary file, not a folder, device or pipe.',
    );
  }
  if (stat.nlink > 1) {
    // A hard link can make a file from outside the allowed folders appear inside them.
    throw new PathNotAllowedError(
      given,
      [],
      'has more than one hard link, so where it really lives cannot be checked',
    );
  }
  const head = Buffer.alloc(SNIFF_BYTES);
  const { bytesRead } = await handle.read(head, 0, SNIFF_BYTES, 0);
  const type = sniffMedia(head.subarray(0, bytesRead));
  if (type === undefined) {
    throw new FileRejectedError(
      given,
      'is not a file type Apiframe accepts (judged by its contents, not its name)',
      `Use ${describeAcceptedFormats()}.`,
    );
  }
  if (expectKind !== undefined && type.kind !== expectKind) {
    throw new FileRejectedError(
      given,
      `is ${article(type.kind)} ${type.kind} (${type.contentType}), not ${article(expectKind)} ${expectKind}`,
      `Give ${article(expectKind)} ${expectKind} file for this field.`,
    );
  }
  const limit = UPLOAD_LIMITS[type.kind];
  if (stat.size > limit) {
    throw new FileRejectedError(
      given,
      `${formatBytes(stat.size)} is over Apiframe's ${formatBytes(limit)} limit for ${type.kind} files`,
      `Shrink or trim the file below ${formatBytes(limit)}, or give a public URL to it instead.`,
    );
  }
  return { size: stat.size, type };
}

function article(kind: MediaKind): string {
  return kind === 'image' || kind === 'audio' ? 'an' : 'a';
}

/** SHA-256 of the open file's first `size` bytes: the upload cache's key. */
export async function hashOpenFile(file: LocalFile): Promise<string> {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(1024 * 1024);
  let position = 0;
  while (position < file.size) {
    const { bytesRead } = await file.handle.read(
      chunk,
      0,
      Math.min(chunk.length, file.size - position),
      position,
    );
    if (bytesRead === 0) {
      throw new FileRejectedError(
        file.given,
        'shrank while it was being read',
        'Wait until the file is complete, then call again.',
      );
    }
    hash.update(chunk.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}
