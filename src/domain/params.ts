/**
 * The one model of Seedance 2.0's parameters. Tool schemas, validation, the wire body, the README tables, pricing
 * inputs and the simulator's validation all derive from the definitions here; no other module states a limit or a
 * default.
 */
import * as z from 'zod';
import type { FieldIssue } from '../core/errors.js';

export const MODEL = 'seedance-2';

export const RESOLUTIONS = ['480p', '720p', '1080p'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];
/** In Apiframe's spec but without a published price, so it cannot be budgeted. */
export const UNPRICED_RESOLUTIONS = ['4k'] as const;
export const ASPECT_RATIOS = ['21:9', '16:9', '4:3', '1:1', '3:4', '9:16', 'adaptive'] as const;

export const LIMITS = {
  prompt: { min: 1, max: 4000 },
  duration: { min: 4, max: 15 },
  reference_image_urls: 9,
  reference_video_urls: 3,
  reference_audio_urls: 3,
  /** Upstream rule (medium confidence): reference files in all. */
  referenceFilesTotal: 12,
  idempotencyKey: 255,
  mediaRef: 2048,
} as const;

export const DEFAULTS = {
  duration: 8,
  resolution: '720p',
  aspect_ratio: '16:9',
  generate_audio: true,
  return_last_frame: false,
  web_search: false,
  camera_fixed: false,
} as const satisfies Record<string, unknown>;

export const MEDIA_FIELDS = [
  'start_image',
  'end_image',
  'reference_image_urls',
  'reference_video_urls',
  'reference_audio_urls',
] as const;
export type MediaField = (typeof MEDIA_FIELDS)[number];

/** The media kind each reference field expects; upload_asset and local-file references use it. */
export const MEDIA_FIELD_KIND = {
  start_image: 'image',
  end_image: 'image',
  reference_image_urls: 'image',
  reference_video_urls: 'video',
  reference_audio_urls: 'audio',
} as const satisfies Record<MediaField, MediaKind>;

export const MEDIA_KINDS = ['image', 'video', 'audio'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

export const ASSET_URI_PREFIX = 'asset://';
/** No colon: in an asset:// URI it would start a port, which the wire format (`format: uri`) refuses. */
const ASSET_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function isAssetUri(value: string): boolean {
  return value.startsWith(ASSET_URI_PREFIX) && ASSET_ID.test(value.slice(ASSET_URI_PREFIX.length));
}

export function assetUri(assetId: string): string {
  return `${ASSET_URI_PREFIX}${assetId}`;
}

export function isRemoteUrl(value: string): boolean {
  return /^https?:\/\/[^\s/]+/i.test(value);
}

/** How a media reference given by the agent will be resolved before it is sent. */
export type MediaRefKind = 'url' | 'asset' | 'local';

export function mediaRefKind(value: string): MediaRefKind | undefined {
  if (isRemoteUrl(value)) return 'url';
  if (isAssetUri(value)) return 'asset';
  if (
    value.startsWith('/') ||
    value.startsWith('~/') ||
    /^file:\/\//i.test(value) ||
    /^[A-Za-z]:[\\/]/.test(value)
  )
    return 'local';
  return undefined;
}

/** Characters RFC 3986 allows after the authority (pchar, "/", "?" and escapes); the rest must be percent-encoded. */
const URI_TAIL_CHAR = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/g;

/**
 * A URL as an RFC 3986 URI, the spec's `format: uri`. The WHATWG parser (z.url's normalize) already encodes spaces,
 * non-ASCII, quotes and braces and punycodes the host, but leaves `|`, `^`, `[`, `]` and a stray `%` as they are.
 */
function asUri(href: string): string {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return href;
  }
  const tail = url.pathname + url.search + url.hash;
  const head = href.slice(0, href.length - tail.length);
  const hashAt = tail.indexOf('#');
  const encode = (part: string) =>
    part
      .replace(/%(?![0-9A-Fa-f]{2})/g, '%25')
      .replace(URI_TAIL_CHAR, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return hashAt === -1
    ? head + encode(tail)
    : `${head}${encode(tail.slice(0, hashAt))}#${encode(tail.slice(hashAt + 1))}`;
}

/**
 * What Apiframe accepts: an http(s) URL or an asset URI. Emits `format: uri`, as the spec does, and sends the URL
 * normalised and percent-encoded (a space as %20, and so on), so that what goes out is a URI the spec accepts.
 */
const remoteRef = z
  .url({
    protocol: /^(https?|asset)$/,
    normalize: true,
    error: 'must be an http(s) URL or an asset://{id} URI',
  })
  .overwrite(asUri)
  .max(LIMITS.mediaRef)
  .refine((v) => !v.startsWith(ASSET_URI_PREFIX) || isAssetUri(v), {
    error: 'asset URI must be asset:// followed by the asset id',
  });

/** What an agent may give: also an absolute local path (or file:// URL), uploaded before submission. */
const agentRef = z
  .string()
  .max(LIMITS.mediaRef)
  .refine((v) => mediaRefKind(v) !== undefined, {
    error:
      'must be an http(s) URL, an asset://{id} URI from upload_asset, or an absolute local file path (relative paths are ambiguous)',
  });

function seedanceFields<Ref extends z.ZodType<string, string>>(ref: Ref) {
  const { duration } = LIMITS;
  return {
    duration: z
      .int()
      .min(duration.min)
      .max(duration.max)
      .default(DEFAULTS.duration)
      .describe('Seconds; priced per second.'),
    resolution: z
      .enum(RESOLUTIONS, {
        error: (issue) =>
          UNPRICED_RESOLUTIONS.some((r) => r === issue.input)
            ? `"${String(issue.input)}" is in Apiframe's spec but has no published price, so it cannot be budgeted; use one of ${RESOLUTIONS.join(', ')}`
            : `must be one of ${RESOLUTIONS.join(', ')}`,
      })
      .default(DEFAULTS.resolution),
    aspect_ratio: z
      .enum(ASPECT_RATIOS, { error: `must be one of ${ASPECT_RATIOS.join(', ')}` })
      .default(DEFAULTS.aspect_ratio)
      .describe('adaptive: as the input image.'),
    start_image: ref.optional().describe('First frame: http(s) URL, asset://{id} or absolute local path.'),
    end_image: ref.optional().describe('Last frame; needs start_image.'),
    reference_image_urls: z
      .array(ref)
      .max(LIMITS.reference_image_urls)
      .optional()
      .describe('Images for subjects or style.'),
    reference_video_urls: z
      .array(ref)
      .max(LIMITS.reference_video_urls)
      .optional()
      .describe('Videos for motion or style (2-15 s in all); any doubles the rate.'),
    reference_audio_urls: z
      .array(ref)
      .max(LIMITS.reference_audio_urls)
      .optional()
      .describe('Audio (15 s in all); needs a reference image or video.'),
    generate_audio: z
      .boolean()
      .default(DEFAULTS.generate_audio)
      .describe('Synchronized audio; no extra cost.'),
    return_last_frame: z
      .boolean()
      .default(DEFAULTS.return_last_frame)
      .describe('Also save the last frame, to chain clips.'),
    web_search: z.boolean().default(DEFAULTS.web_search).describe('Web-grounded prompt.'),
    seed: z.int().optional(),
    camera_fixed: z.boolean().default(DEFAULTS.camera_fixed).describe('Lock the camera.'),
  };
}

export const promptSchema = z
  .string()
  .min(LIMITS.prompt.min, { error: 'must not be empty' })
  .max(LIMITS.prompt.max, { error: `must be at most ${LIMITS.prompt.max} characters` })
  .describe('Subject, action, setting, camera, style.');

/** Parameter fields as an agent gives them: media references may also be local files. */
export const agentParamFields = seedanceFields(agentRef);
export const AgentSeedanceParams = z.strictObject(agentParamFields);
export type AgentSeedanceParams = z.output<typeof AgentSeedanceParams>;

/** `seedanceParams` as Apiframe accepts it. */
export const WireSeedanceParams = z.strictObject(seedanceFields(remoteRef));
export type WireSeedanceParams = z.output<typeof WireSeedanceParams>;

export const WEBHOOK_EVENTS = ['progress', 'completed', 'failed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The body of `POST /v2/videos/generate` for Seedance 2.0, as Apiframe validates it. */
export const WireVideoRequest = z.strictObject({
  model: z.literal(MODEL),
  prompt: promptSchema,
  seedanceParams: WireSeedanceParams.optional(),
  webhookUrl: z.url().optional(),
  webhookEvents: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
});
export type WireVideoRequest = z.output<typeof WireVideoRequest>;

/** A request whose media references are all remote (uploaded or given as URLs): ready to be priced and sent. */
export interface ResolvedRequest {
  prompt: string;
  params: WireSeedanceParams;
}

/**
 * The wire body. Every field with a default is sent resolved, so Apiframe charges for exactly what was priced even if
 * its own defaults change.
 */
export function wireBody(request: ResolvedRequest): WireVideoRequest {
  const seedanceParams = WireSeedanceParams.parse(request.params);
  return { model: MODEL, prompt: request.prompt, seedanceParams };
}

export function referenceCount(params: Pick<WireSeedanceParams, MediaField>): number {
  return (
    (params.reference_image_urls?.length ?? 0) +
    (params.reference_video_urls?.length ?? 0) +
    (params.reference_audio_urls?.length ?? 0)
  );
}

export interface ParamWarning {
  code: string;
  fields: string[];
  message: string;
}

/**
 * Seedance's own cross-field rules, known only from third-party copies of ByteDance's docs: reported beside a valid
 * request so the agent can fix it before paying, never enforced, since Apiframe's handling of them is unknown.
 */
export function crossFieldWarnings(params: Pick<AgentSeedanceParams, MediaField>): ParamWarning[] {
  const warnings: ParamWarning[] = [];
  const frameMode = params.start_image !== undefined || params.end_image !== undefined;
  const refs = referenceCount(params);
  if (frameMode && refs > 0) {
    warnings.push({
      code: 'frames_with_references',
      fields: [
        'start_image',
        'end_image',
        'reference_image_urls',
        'reference_video_urls',
        'reference_audio_urls',
      ],
      message:
        'Seedance treats first/last-frame mode and reference mode as exclusive: use start_image/end_image or reference_*_urls, not both.',
    });
  }
  if (params.end_image !== undefined && params.start_image === undefined) {
    warnings.push({
      code: 'end_without_start',
      fields: ['end_image', 'start_image'],
      message: 'end_image needs a start_image as well.',
    });
  }
  if (
    (params.reference_audio_urls?.length ?? 0) > 0 &&
    (params.reference_image_urls?.length ?? 0) + (params.reference_video_urls?.length ?? 0) === 0
  ) {
    warnings.push({
      code: 'audio_without_visual_reference',
      fields: ['reference_audio_urls'],
      message: 'reference_audio_urls needs at least one reference image or video.',
    });
  }
  if (refs > LIMITS.referenceFilesTotal) {
    warnings.push({
      code: 'too_many_references',
      fields: ['reference_image_urls', 'reference_video_urls', 'reference_audio_urls'],
      message: `Seedance accepts at most ${LIMITS.referenceFilesTotal} reference files in all; ${refs} were given.`,
    });
  }
  return warnings;
}

/** Issues named in one answer; the rest are counted. */
const MAX_ISSUES = 25;

/**
 * zod issues as `field: message` pairs, with paths written the way an agent would write them. An unknown key is
 * named printable and short (it may be a megabyte of anything), and a flood of issues is cut to the first few.
 */
export function fieldIssues(error: z.ZodError): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({
          field: formatPath([...issue.path, printableKey(key)]),
          message: 'is not a known parameter',
        });
      }
      continue;
    }
    issues.push({ field: formatPath(issue.path) || '(arguments)', message: issue.message });
  }
  if (issues.length <= MAX_ISSUES) return issues;
  return [
    ...issues.slice(0, MAX_ISSUES - 1),
    { field: '(arguments)', message: `${issues.length - MAX_ISSUES + 1} more problems like these` },
  ];
}

function printableKey(key: string): string {
  const visible = Array.from(key, (ch) => (ch < ' ' || ch === '\u007f' ? ' ' : ch))
    .join('')
    .trim();
  if (visible === '') return JSON.stringify(key);
  return visible.length > 64 ? `${visible.slice(0, 63)}…` : visible;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
