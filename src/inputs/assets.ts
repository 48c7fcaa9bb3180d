/**
 * A local file or a URL turned into an `asset://{id}` that Seedance accepts: local files are checked, hashed,
 * uploaded streamed and registered; a file uploaded before (same SHA-256) reuses its asset. Registration is waited
 * on until the provider reports the asset Active.
 */

import type { ApiframeClient } from '../apiframe/client.js';
import { newIdempotencyKey } from '../apiframe/client.js';
import type { Upload } from '../apiframe/schemas.js';
import { AssetError, BlockedUrlError, NotFoundError } from '../core/errors.js';
import type { Fetcher } from '../core/guarded-fetch.js';
import { sanitize } from '../core/redact.js';
import { sleep } from '../core/sleep.js';
import { SNIFF_BYTES, sniffMedia } from '../domain/media.js';
import {
  assetUri,
  MEDIA_FIELD_KIND,
  MEDIA_FIELDS,
  type MediaField,
  type MediaKind,
  mediaRefKind,
} from '../domain/params.js';
import type { Ledger } from '../ledger/types.js';
import { type AccessScope, hashOpenFile, openLocalMedia } from './local-files.js';

export interface AssetResult {
  assetUri: string;
  assetId: string;
  status: string;
  kind: MediaKind;
  source: 'local' | 'url';
  bytes: number | null;
  sha256: string | null;
  reused: boolean;
  uploadUrl: string | null;
  uploadExpiresAt: string | null;
}

export type AssetProgress = (message: string) => void;

export interface AssetCallContext {
  signal?: AbortSignal | undefined;
  scope: AccessScope;
  progress?: AssetProgress;
}

export interface AssetServiceOptions {
  /** Longest wait for the provider to activate an asset. */
  activationTimeoutMs: number;
  /** Poll schedule while waiting for activation. */
  pollMs: { first: number; cap: number };
  /** How long a cached upload is trusted before it is uploaded again (it is checked upstream on every reuse). */
  cacheTtlMs: number;
  userAgent: string;
  /** How member-given URLs are read: guarded against private addresses in HTTP mode. */
  fetch: Fetcher;
  now?: () => number;
}

/**
 * From this size, a local file this process has not hashed before starts uploading beside its hash, instead of
 * after it: a new 50 MB video is then sent in the time of the upload alone. The hash still decides: when the same
 * bytes are already an active asset, the upload is abandoned and the asset reused.
 */
const SPECULATE_FROM = 4 * 1024 * 1024;
/** Files remembered as hashed (and so probably cached): a bounded set, forgotten wholesale when full. */
const REMEMBERED = 1_000;

export class AssetService {
  private readonly hashed = new Set<string>();

  constructor(
    private readonly client: ApiframeClient,
    private readonly ledger: Ledger,
    private readonly options: AssetServiceOptions,
  ) {}

  async fromLocal(
    given: string,
    expectKind: MediaKind | undefined,
    ctx: AssetCallContext,
  ): Promise<AssetResult> {
    const file = await openLocalMedia(given, ctx.scope, expectKind);
    let early: { upload: Promise<Upload>; abort: AbortController } | undefined;
    try {
      const stat = await file.handle.stat();
      const identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
      if (file.size >= SPECULATE_FROM && !this.hashed.has(identity)) {
        const abort = new AbortController();
        const signal = ctx.signal === undefined ? abort.signal : AbortSignal.any([ctx.signal, abort.signal]);
        const upload = this.client.uploadFile(file, { idempotencyKey: newIdempotencyKey(), signal });
        upload.catch(() => {});
        early = { upload, abort };
        ctx.progress?.(`uploading ${file.type.kind} (${file.size} bytes)`);
      }
      ctx.progress?.(`hashing ${file.type.kind} (${file.size} bytes)`);
      const sha256 = await hashOpenFile(file);
      if (this.hashed.size >= REMEMBERED) this.hashed.clear();
      this.hashed.add(identity);
      const cached = await this.ledger.getUpload(sha256, file.type.kind);
      if (cached !== undefined) {
        const status = await this.client
          .getAsset(cached.assetId, { signal: ctx.signal })
          .catch((error: unknown) => {
            if (error instanceof NotFoundError) return undefined;
            throw error;
          });
        // Still activating (an earlier call gave up waiting): wait for that asset rather than upload again.
        const active =
          status === undefined || isActive(status.status) || isFailed(status.status)
            ? status?.status
            : await this.waitActive(cached.assetId, ctx);
        if (status !== undefined && isActive(active)) {
          return {
            assetUri: assetUri(cached.assetId),
            assetId: cached.assetId,
            status: active ?? 'Active',
            kind: cached.kind,
            source: 'local',
            bytes: file.size,
            sha256,
            reused: true,
            uploadUrl: null,
            uploadExpiresAt: null,
          };
        }
      }
      let upload: Upload;
      if (early !== undefined) {
        upload = await early.upload;
      } else {
        ctx.progress?.(`uploading ${file.type.kind} (${file.size} bytes)`);
        upload = await this.client.uploadFile(file, {
          idempotencyKey: newIdempotencyKey(),
          signal: ctx.signal,
        });
      }
      const assetId = await this.register(upload.url, file.type.kind, ctx);
      // Remembered before it is active: a call that gives up waiting leaves an asset the next one waits for.
      const now = (this.options.now ?? Date.now)();
      await this.ledger.putUpload({
        sha256,
        kind: file.type.kind,
        bytes: file.size,
        assetId,
        expiresAt: new Date(now + this.options.cacheTtlMs).toISOString(),
      });
      const status = await this.waitActive(assetId, ctx);
      return {
        assetUri: assetUri(assetId),
        assetId,
        status,
        kind: file.type.kind,
        source: 'local',
        bytes: file.size,
        sha256,
        reused: false,
        uploadUrl: upload.url,
        uploadExpiresAt: upload.expiresAt,
      };
    } finally {
      // An upload still reading the file (the asset was cached, or hashing failed) is abandoned before it closes.
      if (early !== undefined) {
        early.abort.abort();
        await early.upload.catch(() => {});
      }
      await file.handle.close();
    }
  }

  async fromUrl(url: string, kind: MediaKind | undefined, ctx: AssetCallContext): Promise<AssetResult> {
    const type = kind ?? (await this.sniffUrl(url, ctx.signal));
    const assetId = await this.register(url, type, ctx);
    const status = await this.waitActive(assetId, ctx);
    return {
      assetUri: assetUri(assetId),
      assetId,
      status,
      kind: type,
      source: 'url',
      bytes: null,
      sha256: null,
      reused: false,
      uploadUrl: null,
      uploadExpiresAt: null,
    };
  }

  private register(url: string, type: MediaKind, ctx: AssetCallContext): Promise<string> {
    ctx.progress?.(`registering ${type} asset`);
    return this.client.createAsset(
      { url, type },
      { idempotencyKey: newIdempotencyKey(), signal: ctx.signal },
    );
  }

  private async waitActive(assetId: string, ctx: AssetCallContext): Promise<string> {
    const started = (this.options.now ?? Date.now)();
    let delay = this.options.pollMs.first;
    for (;;) {
      const asset = await this.client.getAsset(assetId, { signal: ctx.signal });
      if (isActive(asset.status)) return asset.status ?? 'Active';
      if (asset.status?.toLowerCase() === 'failed') {
        throw new AssetError(
          'asset_failed',
          `The provider could not use the file: ${sanitize(asset.errorMsg ?? 'no reason given')}`,
          {
            recovery:
              "Check that the file is a valid, reachable image, video or audio file within Seedance's limits, then try another file.",
            details: { assetId },
          },
        );
      }
      ctx.progress?.(`asset ${asset.status ?? 'processing'}`);
      if ((this.options.now ?? Date.now)() - started + delay > this.options.activationTimeoutMs) {
        throw new AssetError(
          'asset_not_ready',
          `Asset ${assetId} is still ${asset.status ?? 'processing'} after ${Math.round(this.options.activationTimeoutMs / 1000)} s.`,
          {
            recovery: `Use asset://${assetId} in a minute: upload_asset with the same file will find it again without uploading twice.`,
            details: { assetId, assetUri: assetUri(assetId) },
          },
        );
      }
      await sleep(delay, ctx.signal);
      delay = Math.min(this.options.pollMs.cap, Math.round(delay * 1.5));
    }
  }

  /** The type of a remote file from its first bytes (a ranged GET), when the agent did not say. */
  private async sniffUrl(url: string, signal: AbortSignal | undefined): Promise<MediaKind> {
    const timeout = AbortSignal.timeout(15_000);
    const unknown = new AssetError(
      'unknown_media_type',
      `Could not tell whether ${sanitize(url, 200)} is an image, video or audio file.`,
      {
        recovery: 'Call again with type set to image, video or audio.',
      },
    );
    try {
      const response = await this.options.fetch(url, {
        headers: { range: `bytes=0-${SNIFF_BYTES - 1}`, 'user-agent': this.options.userAgent },
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
      if (!response.ok || response.body === null) throw unknown;
      const reader = response.body.getReader();
      const { value } = await reader.read();
      await reader.cancel().catch(() => {});
      const type = value === undefined ? undefined : sniffMedia(value.subarray(0, SNIFF_BYTES));
      if (type === undefined) throw unknown;
      return type.kind;
    } catch (error) {
      if (error instanceof AssetError || error instanceof BlockedUrlError) throw error;
      throw unknown;
    }
  }
}

function isActive(status: string | undefined): boolean {
  return status?.toLowerCase() === 'active';
}

function isFailed(status: string | undefined): boolean {
  return status?.toLowerCase() === 'failed';
}

/**
 * The agent's media references with every local file replaced by the asset it was uploaded as (reusing earlier
 * uploads of the same bytes). URLs and asset URIs pass through unchanged.
 */
export async function resolveMediaRefs<P extends Partial<Record<MediaField, string | string[] | undefined>>>(
  params: P,
  assets: AssetService,
  ctx: AssetCallContext,
): Promise<P> {
  const resolved: Record<string, unknown> = { ...params };
  const one = async (field: MediaField, ref: string) =>
    mediaRefKind(ref) === 'local'
      ? (await assets.fromLocal(ref, MEDIA_FIELD_KIND[field], ctx)).assetUri
      : ref;
  for (const field of MEDIA_FIELDS) {
    const value = params[field];
    if (value === undefined) continue;
    if (!Array.isArray(value)) {
      resolved[field] = await one(field, value as string);
      continue;
    }
    // One at a time: the same file named twice is then uploaded once and found in the cache the second time.
    const refs: string[] = [];
    for (const ref of value) refs.push(await one(field, ref));
    resolved[field] = refs;
  }
  return resolved as P;
}
