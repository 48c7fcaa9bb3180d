/**
 * Saved videos and last frames as MCP resources, so that a client can fetch them over the protocol instead of
 * being handed a file:// path of a machine it may not see: `seedance://jobs/{job_id}/video` and
 * `seedance://jobs/{job_id}/last-frame`, listed newest first from the ledger and read as blobs under a size cap.
 * A member (HTTP mode) lists and reads only their own jobs.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  ErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type Resource,
} from '@modelcontextprotocol/sdk/types.js';
import type { Services } from '../app/services.js';
import { SeedanceError } from '../core/errors.js';
import { packageRoot } from '../core/package-files.js';
import { formatBytes } from '../domain/media.js';
import type { DownloadedFile, JobRecord } from '../ledger/types.js';

/**
 * Largest file `resources/read` returns inline. Base64 makes it a third larger on the wire, and clients hold the
 * whole answer in memory; larger files are fetched from their remote URL or path instead.
 */
export const RESOURCE_MAX_BYTES = 8 * 1024 * 1024;

/** Ledger records read per page of resources/list (each gives up to two resources). */
const RECORDS_PER_PAGE = 50;

const KINDS = { video: 'video', 'last-frame': 'last_frame' } as const satisfies Record<
  string,
  DownloadedFile['kind']
>;
type UriKind = keyof typeof KINDS;

const MIME: Record<DownloadedFile['kind'], string> = { video: 'video/mp4', last_frame: 'image/png' };

export function resourceUri(jobId: string, kind: DownloadedFile['kind']): string {
  return `seedance://jobs/${jobId}/${kind === 'video' ? 'video' : 'last-frame'}`;
}

const URI = /^seedance:\/\/jobs\/([0-9a-fA-F-]{36})\/(video|last-frame)$/;

function describe(record: JobRecord, file: DownloadedFile): Resource {
  const prompt = record.request.prompt;
  return {
    uri: resourceUri(record.jobId ?? '', file.kind),
    name: file.path.split(/[\\/]/).pop() ?? file.kind,
    title: `${file.kind === 'video' ? 'Video' : 'Last frame'}: ${prompt.length > 60 ? `${prompt.slice(0, 57)}...` : prompt}`,
    mimeType: MIME[file.kind],
    size: file.bytes,
    annotations: { lastModified: record.updatedAt },
  };
}

/** The MCP Apps view that shows a video result (mcp/player/view.ts, built into dist/player.html). */
export const PLAYER_URI = 'ui://seedance/player';
/**
 * ext-apps' RESOURCE_MIME_TYPE, stated here so that the server bundle does not carry ext-apps (a test holds the two
 * equal).
 */
export const RESOURCE_MIME_TYPE = 'text/html;profile=mcp-app';

const PLAYER: Resource = {
  uri: PLAYER_URI,
  name: 'player',
  title: 'Seedance video player',
  description:
    'Shows a generate_video or get_video result: the video, its last frame, prompt, cost and budget.',
  mimeType: RESOURCE_MIME_TYPE,
};

let playerHtml: Promise<string> | undefined;

function notFound(uri: string): McpError {
  return new McpError(-32002, `Resource not found: ${uri}`, { uri });
}

/**
 * resources/list, resources/templates/list and resources/read for one session, over its services: a member's ledger
 * holds only their jobs (app/member-services.ts), so a member lists and reads only their own files.
 */
export function registerResources(server: Server, services: Services): void {
  const { ledger } = services;

  server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
    let cursor = request.params?.cursor;
    const resources: Resource[] = cursor === undefined ? [PLAYER] : [];
    // Pages of records with no saved file are skipped, so that a page is empty only at the end.
    for (;;) {
      const page = await ledger
        .list({ limit: RECORDS_PER_PAGE, ...(cursor === undefined ? {} : { cursor }) })
        .catch((error: unknown) => {
          if (error instanceof SeedanceError && error.code === 'invalid_arguments')
            throw new McpError(
              ErrorCode.InvalidParams,
              'Invalid cursor: pass nextCursor exactly as returned.',
            );
          throw error;
        });
      for (const record of page.records) {
        if (record.jobId === null) continue;
        for (const kind of ['video', 'last_frame'] as const) {
          const file = record.downloads.find((f) => f.kind === kind);
          if (file !== undefined) resources.push(describe(record, file));
        }
      }
      cursor = page.nextCursor ?? undefined;
      if (cursor === undefined || resources.some((r) => r !== PLAYER))
        return { resources, ...(cursor ? { nextCursor: cursor } : {}) };
    }
  });

  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: (Object.keys(KINDS) as UriKind[]).map((kind) => ({
      uriTemplate: `seedance://jobs/{job_id}/${kind}`,
      name: kind === 'video' ? 'Saved video' : 'Last frame of a saved video',
      mimeType: MIME[KINDS[kind]],
    })),
  }));

  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const uri = request.params.uri;
    if (uri === PLAYER_URI) {
      playerHtml ??= readFile(join(packageRoot(), 'dist', 'player.html'), 'utf8');
      return {
        contents: [
          {
            uri,
            mimeType: RESOURCE_MIME_TYPE,
            text: await playerHtml,
            // Remote media, when a file is too large for resources/read, comes only from the origins declared here.
            _meta: { ui: { csp: { resourceDomains: services.config.playerMediaOrigins } } },
          },
        ],
      };
    }
    const match = URI.exec(uri);
    if (match?.[1] === undefined || match[2] === undefined) throw notFound(uri);
    const jobId = match[1].toLowerCase();
    const kind = KINDS[match[2] as UriKind];
    const record = await ledger.findByJobId(jobId);
    // Another member's job is as unknown as one that never existed.
    if (record === undefined) throw notFound(uri);
    const file = record.downloads.find((f) => f.kind === kind);
    if (file === undefined) {
      throw new McpError(
        -32002,
        `Resource not found: ${uri} (job ${jobId} has no saved ${kind.replace('_', ' ')} yet; get_video saves it)`,
        {
          uri,
        },
      );
    }
    if (file.bytes > RESOURCE_MAX_BYTES) {
      throw new McpError(
        ErrorCode.InvalidRequest,
        `${uri} is ${formatBytes(file.bytes)}, over the ${formatBytes(RESOURCE_MAX_BYTES)} that resources/read returns inline. Fetch it from ${file.url} (expires about 24 h after the job completed) or open ${file.path} on the server's machine.`,
        { uri, bytes: file.bytes, maxBytes: RESOURCE_MAX_BYTES, remoteUrl: file.url, path: file.path },
      );
    }
    const data = await readFile(file.path).catch((error: unknown) => {
      throw new McpError(
        -32002,
        `${uri}: the saved file ${file.path} can no longer be read (${(error as NodeJS.ErrnoException).code ?? 'error'}). Fetch it from ${file.url} (expires about 24 h after the job completed).`,
        { uri, remoteUrl: file.url, path: file.path },
      );
    });
    return { contents: [{ uri, mimeType: MIME[kind], blob: data.toString('base64') }] };
  });
}
