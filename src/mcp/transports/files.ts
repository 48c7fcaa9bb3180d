/**
 * Result files over HTTP: a remote agent cannot read the server's disk, so results carry a link to `/files/<name>`
 * on this server, signed (HMAC-SHA256 of the name and the expiry) and expiring, that serves the file with range
 * requests. The link is the capability: it needs no bearer token, so that a player or a browser can open it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Upstream keeps result files about 24 h; the links last as long. */
const FILE_LINK_TTL_MS = 24 * 60 * 60 * 1000;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.mp4': 'video/mp4',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
};

export interface FileLinksOptions {
  /** Real path of the output folder: only files directly inside it are linked and served. */
  outputDir: string;
  /** Base the links start with, ending in `/` (`http://127.0.0.1:8808/`, or the public URL behind a proxy). */
  base: () => string;
  /** Signing key; derived from the API key so that links survive a restart, random when there is none. */
  key: Buffer;
  ttlMs?: number;
  now?: () => number;
}

export interface FileLinks {
  /** A signed link to a file of the output folder, or undefined for any other path. */
  link(path: string): string | undefined;
  /** Answers GET/HEAD `/files/<name>?exp=..&sig=..`. */
  serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function fileLinkKey(apiKey: string | undefined): Buffer {
  if (apiKey === undefined) return randomBytes(32);
  return createHmac('sha256', apiKey).update('seedance-mcp file links v1').digest();
}

function plainName(name: string): boolean {
  return name !== '' && !name.startsWith('.') && basename(name) === name && !/[\\/\0]/.test(name);
}

function refuse(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** One `bytes=` range of a file of `size` bytes: [start, end] inclusive, 'none' without a header, or unsatisfiable. */
function byteRange(header: string | undefined, size: number): [number, number] | 'none' | 'unsatisfiable' {
  if (header === undefined) return 'none';
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === '' && match[2] === '')) return 'unsatisfiable';
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}

export function fileLinks(options: FileLinksOptions): FileLinks {
  const ttlMs = options.ttlMs ?? FILE_LINK_TTL_MS;
  const now = options.now ?? Date.now;
  const sign = (name: string, expires: number) =>
    createHmac('sha256', options.key).update(`${name}\n${expires}`).digest();

  return {
    link(path) {
      const name = basename(path);
      if (dirname(path) !== options.outputDir || !plainName(name)) return undefined;
      const expires = Math.floor((now() + ttlMs) / 1000);
      const url = new URL(`files/${encodeURIComponent(name)}`, options.base());
      url.searchParams.set('exp', String(expires));
      url.searchParams.set('sig', sign(name, expires).toString('base64url'));
      return url.href;
    },

    async serve(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'method not allowed');
      const url = new URL(req.url ?? '/', 'http://files');
      let name: string;
      try {
        name = decodeURIComponent(url.pathname.replace(/^.*\/files\//, ''));
      } catch {
        return refuse(res, 404, 'not found');
      }
      const expires = Number(url.searchParams.get('exp'));
      const given = Buffer.from(url.searchParams.get('sig') ?? '', 'base64url');
      const expected = plainName(name) && Number.isSafeInteger(expires) ? sign(name, expires) : undefined;
      if (expected === undefined || given.length !== expected.length || !timingSafeEqual(given, expected))
        return refuse(res, 403, 'invalid link');
      if (expires * 1000 < now()) return refuse(res, 410, 'link expired: call get_video again for a new one');
      let handle: Awaited<ReturnType<typeof fsp.open>>;
      try {
        handle = await fsp.open(join(options.outputDir, name), constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch {
        return refuse(res, 404, 'not found');
      }
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) return refuse(res, 404, 'not found');
        const range = byteRange(req.headers.range, stat.size);
        const headers = {
          'content-type': CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream',
          'accept-ranges': 'bytes',
          'cache-control': 'private, max-age=3600',
          'last-modified': stat.mtime.toUTCString(),
        };
        if (range === 'unsatisfiable') {
          res.writeHead(416, { ...headers, 'content-range': `bytes */${stat.size}` });
          res.end();
          return;
        }
        const [start, end] = range === 'none' ? [0, stat.size - 1] : range;
        const length = Math.max(0, end - start + 1);
        res.writeHead(range === 'none' ? 200 : 206, {
          ...headers,
          'content-length': length,
          ...(range === 'none' ? {} : { 'content-range': `bytes ${start}-${end}/${stat.size}` }),
        });
        if (req.method === 'HEAD' || length === 0) {
          res.end();
          return;
        }
        await pipeline(handle.createReadStream({ start, end, autoClose: false }), res);
      } finally {
        await handle.close();
      }
    },
  };
}
