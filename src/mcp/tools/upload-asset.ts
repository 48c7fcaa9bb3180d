import * as z from 'zod';
import { InvalidArgumentsError } from '../../core/errors.js';
import { formatBytes, UPLOAD_LIMITS } from '../../domain/media.js';
import { MEDIA_KINDS, mediaRefKind } from '../../domain/params.js';
import { defineTool } from './define.js';

const limits = MEDIA_KINDS.map((kind) => `${kind} ${UPLOAD_LIMITS[kind] / 2 ** 20} MB`).join(', ');

export const uploadAssetTool = defineTool({
  name: 'upload_asset',
  title: 'Upload an asset',
  description: `Local file or URL as asset://{id} for media fields (uploaded once). Max ${limits}; allowed folders only. Free.`,
  input: z.strictObject({
    source: z.string().min(1).max(4096).describe('Absolute path, file:// or http(s) URL.'),
    type: z.enum(MEDIA_KINDS).optional().describe('Found from the bytes when left out.'),
  }),
  output: z.object({
    asset_uri: z.string(),
    asset_id: z.string(),
    status: z.string(),
    type: z.enum(MEDIA_KINDS),
    source: z.enum(['local', 'url']),
    bytes: z.number().nullable(),
    sha256: z.string().nullable(),
    reused: z.boolean(),
    simulated: z.boolean(),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  async handler(args, ctx) {
    const kind = mediaRefKind(args.source);
    if (kind === 'asset') {
      throw new InvalidArgumentsError(
        [{ field: 'source', message: 'is already an asset URI' }],
        'Use the asset URI as it is in generate_video; nothing needs uploading.',
      );
    }
    if (kind === undefined) {
      throw new InvalidArgumentsError(
        [{ field: 'source', message: 'must be an absolute local path, a file:// URL or an http(s) URL' }],
        'Give the absolute path of the file (relative paths are ambiguous), or its http(s) URL.',
      );
    }
    let step = 0;
    const progress = (message: string) => ctx.progress({ percent: Math.min(95, ++step * 10), message });
    const { assets } = ctx.services;
    const asset =
      kind === 'local'
        ? await assets.fromLocal(args.source, args.type, {
            signal: ctx.signal,
            scope: await ctx.accessScope(),
            progress,
          })
        : await assets.fromUrl(args.source, args.type, {
            signal: ctx.signal,
            scope: { allowedDirs: [] },
            progress,
          });
    const structured = {
      asset_uri: asset.assetUri,
      asset_id: asset.assetId,
      status: asset.status,
      type: asset.kind,
      source: asset.source,
      bytes: asset.bytes,
      sha256: asset.sha256,
      reused: asset.reused,
      simulated: ctx.services.simulated,
    };
    const size = asset.bytes === null ? '' : ` (${formatBytes(asset.bytes)})`;
    return {
      structured,
      text: `${asset.reused ? 'Reused' : 'Uploaded'} ${asset.kind}${size} as ${asset.assetUri}${ctx.services.simulated ? ' [simulated]' : ''}. Pass it as start_image, end_image or in reference_*_urls.`,
    };
  },
});
