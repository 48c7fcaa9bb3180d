/**
 * Fetches a result file into the output folder. The bytes go to a temporary name in the same folder and are
 * renamed into place only once complete and flushed, so a broken download never leaves a corrupt video behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { DownloadError, SeedanceError } from '../core/errors.js';
import type { Fetcher } from '../core/guarded-fetch.js';
import { sanitize } from '../core/redact.js';
import { formatBytes, SNIFF_BYTES, sniffMedia } from '../domain/media.js';
import type { MediaKind } from '../domain/params.js';

export interface DownloadOptions {
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  userAgent: string;
  /** How the file is fetched: guarded against private addresses in HTTP mode. */
  fetch: Fetcher;
  /** What the file must be, judged by its first bytes: an error page served as the video is not saved as one. */
  kind?: MediaKind;
}

export interface Downloaded {
  path: string;
  bytes: number;
  sha256: string;
}

const retryLater = 'The job is safe: call get_video with the same job_id to try the download again.';

/** Downloads `url` to `dir/fileName`; `fileName` must be a plain name (see naming.ts), never a path. */
export async function downloadFile(
  url: string,
  dir: string,
  fileName: string,
  options: DownloadOptions,
): Promise<Downloaded> {
  if (basename(fileName) !== fileName || fileName.startsWith('.'))
    throw new Error(`unsafe file name ${fileName}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DownloadError('The result URL is not a valid URL.', retryLater);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new DownloadError(
      `Refused to download a result URL with scheme ${sanitize(parsed.protocol, 20)}: only http(s) is fetched.`,
      'Report this to the user; the remote result is not fetched.',
    );
  }
  await fsp.mkdir(dir, { recursive: true });
  const finalPath = join(dir, fileName);
  const tempPath = join(dir, `.${fileName}.${randomBytes(6).toString('hex')}.part`);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  // The API key is never sent: result URLs point at a CDN, not at Apiframe.
  let response: Response;
  try {
    response = await options.fetch(parsed, {
      signal,
      headers: { 'user-agent': options.userAgent },
    });
  } catch (error) {
    if (error instanceof SeedanceError) throw new DownloadError(error.message, error.recovery, error.details);
    throw new DownloadError(`Downloading the result failed: ${describe(error, timeout)}.`, retryLater);
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel().catch(() => {});
    throw new DownloadError(
      `Downloading the result failed: HTTP ${response.status}.`,
      response.status === 404 || response.status === 410
        ? 'The remote file is gone (results expire about 24 h after completion); it cannot be downloaded any more.'
        : retryLater,
    );
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body.cancel().catch(() => {});
    throw tooLarge(declared, options.maxBytes, url);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  let head = Buffer.alloc(0);
  const file = await fsp.open(tempPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  let complete = false;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      if (bytes > options.maxBytes) throw tooLarge(bytes, options.maxBytes, url);
      hash.update(chunk);
      if (head.length < SNIFF_BYTES)
        head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
      await file.write(chunk);
    }
    if (Number.isFinite(declared) && bytes !== declared) {
      throw new DownloadError(`The download ended after ${bytes} of ${declared} bytes.`, retryLater);
    }
    const type = sniffMedia(head);
    if (options.kind !== undefined && type?.kind !== options.kind) {
      throw new DownloadError(
        `The downloaded result is not ${options.kind === 'image' ? 'an' : 'a'} ${options.kind} (${type === undefined ? 'unrecognised content' : type.contentType}); it was not saved.`,
        retryLater,
      );
    }
    await file.datasync();
    complete = true;
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    throw new DownloadError(`Downloading the result failed: ${describe(error, timeout)}.`, retryLater);
  } finally {
    await file.close();
    if (!complete) await fsp.rm(tempPath, { force: true });
  }
  await fsp.rename(tempPath, finalPath);
  return { path: finalPath, bytes, sha256: hash.digest('hex') };
}

function tooLarge(bytes: number, max: number, url: string): DownloadError {
  return new DownloadError(
    `The result is larger (${formatBytes(bytes)}) than SEEDANCE_MAX_DOWNLOAD_MB allows (${formatBytes(max)}); it was not saved.`,
    'Give the user the remote URL instead, or raise SEEDANCE_MAX_DOWNLOAD_MB.',
    { remoteUrl: url },
  );
}

function describe(error: unknown, timeout: AbortSignal): string {
  if (timeout.aborted) return 'timed out';
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return sanitize(cause instanceof Error ? cause.message : error.message, 160);
  }
  return 'unknown error';
}
