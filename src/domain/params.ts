/**
 * The one model of Seedance 2.0's parameters. Tool schemas, validation, the wire body, the README tables, pricing
 * inputs and the simulator's validation all derive from the definitions here; no other module states a limit or a
 * default.
 */
import * as z from 'zod';
import type { FieldIssue } from '../core/errors.js';

export const RESOLUTIONS = ['480p', '720p', '1080p', '4k'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

/**
 * Apiframe's Seedance 2 family: the resolutions each model makes, as its branch of GenerateVideoRequest in
 * openapi.json lists them (test/params.test.ts holds them equal). Every other field and limit is the same for all.
 */
export const MODEL_RESOLUTIONS = {
  'seedance-2': RESOLUTIONS,
  'seedance-2-fast': ['480p', '720p'],
  'seedance-2-mini': ['480p', '720p'],
  'seedance-2.5': RESOLUTIONS,
} as const satisfies Record<string, readonly Resolution[]>;
export const MODELS = [
  'seedance-2',
  'seedance-2-fast',
  'seedance-2-mini',
  'seedance-2.5',
] as const satisfies Array<keyof typeof MODEL_RESOLUTIONS>;
export type Model = (typeof MODELS)[number];
export const DEFAULT_MODEL: Model = 'seedance-2';

export function modelResolutions(model: Model): readonly Resolution[] {
  return MODEL_RESOLUTIONS[model];
}

/**
 * The per-model rules in one line, said once (the `model` field's description): the models that make fewer than
 * every resolution, grouped by what they make. A model not named makes every resolution the field lists.
 */
function modelRulesText(): string {
  const groups = new Map<string, string[]>();
  for (const model of MODELS) {
    const allowed = modelResolutions(model);
    if (allowed.length === RESOLUTIONS.length) continue;
    const key = allowed.join('/');
    groups.set(key, [...(groups.get(key) ?? []), model]);
  }
  return [...groups].map(([resolutions, models]) => `${models.join(', ')}: ${resolutions} only`).join('; ');
}

export const modelField = z
  .enum(MODELS, { error: `must be one of ${MODELS.join(', ')}` })
  .default(DEFAULT_MODEL)
  .describe(`Resolution: ${modelRulesText()}.`);
export const ASPECT_RATIOS = ['21:9', '16:9', '4:3', '1:1', '3:4', '9:16', 'adaptive'] as const;

export const LIMITS = {
  prompt: { min: 1, max: 4000 },
  duration: { min: 4, max: 15 },
  reference_image_urls: 9,
  reference_video_urls: 3,
  reference_audio_urls: 3,
  /** Upstream rules (medium confidence, third-party copies of ByteDance's docs): reference files in all, */
  referenceFilesTotal: 12,
  /** every image's sides and shape, */
  image: { minSide: 300, maxSide: 6000, minAspect: 0.4, maxAspect: 2.5, maxBytes: 30 * 1024 * 1024 },
  /** the reference videos' length in all and their formats, */
  referenceVideoSeconds: { min: 2, max: 15 },
  referenceVideoTypes: ['video/mp4', 'video/quicktime'],
  /** and the reference audio's length in all and its formats. */
  referenceAudioSeconds: { max: 15 },
  referenceAudioTypes: ['audio/mpeg', 'audio/wav'],
  idempotencyKey: 255,
  mediaRef: 2048,
} as const;

/**
 * The longest idempotency_key an agent may give: Apiframe's limit less 20 characters held in reserve. The key is sent
 * as it is today (or as a digest when a header cannot carry it, apiframe/http.ts); the margin leaves room to derive
 * keys from it later (a suffix per upload or attempt) without refusing keys agents already use.
 */
export const AGENT_IDEMPOTENCY_KEY_MAX = LIMITS.idempotencyKey - 20;

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
    duration: z.int().min(duration.min).max(duration.max).default(DEFAULTS.duration),
    resolution: z
      .enum(RESOLUTIONS, { error: `must be one of ${RESOLUTIONS.join(', ')}` })
      .default(DEFAULTS.resolution),
    aspect_ratio: z
      .enum(ASPECT_RATIOS, { error: `must be one of ${ASPECT_RATIOS.join(', ')}` })
      .default(DEFAULTS.aspect_ratio)
      .describe('adaptive: as the input image.'),
    start_image: ref.optional().describe('First frame: URL, asset://{id} or path (chain: last_frame.path).'),
    end_image: ref.optional().describe('Last frame; needs start_image.'),
    reference_image_urls: z
      .array(ref)
      .max(LIMITS.reference_image_urls)
      .optional()
      .describe('Subject/style images; not with start_image.'),
    reference_video_urls: z
      .array(ref)
      .max(LIMITS.reference_video_urls)
      .optional()
      .describe(
        `Motion/style videos (${LIMITS.referenceVideoSeconds.min}-${LIMITS.referenceVideoSeconds.max} s in all); double the rate.`,
      ),
    reference_audio_urls: z
      .array(ref)
      .max(LIMITS.reference_audio_urls)
      .optional()
      .describe(`Audio (${LIMITS.referenceAudioSeconds.max} s in all); needs a reference image or video.`),
    generate_audio: z.boolean().default(DEFAULTS.generate_audio).describe('No extra cost.'),
    return_last_frame: z.boolean().default(DEFAULTS.return_last_frame).describe('Also save the last frame.'),
    web_search: z.boolean().default(DEFAULTS.web_search).describe('Web-grounded prompt.'),
    seed: z.int().optional(),
    camera_fixed: z.boolean().default(DEFAULTS.camera_fixed),
  };
}

export const promptSchema = z
  .string()
  .min(LIMITS.prompt.min, { error: 'must not be empty' })
  .max(LIMITS.prompt.max, { error: `must be at most ${LIMITS.prompt.max} characters` })
  .describe('Subject, action, setting, camera, style.');

/** Parameter fields as an agent gives them: media references may also be local files. */
export const agentParamFields = seedanceFields(agentRef);
export const AgentSeedanceParams = withSeedanceRules(z.strictObject(agentParamFields));
export type AgentSeedanceParams = z.output<typeof AgentSeedanceParams>;

/** `seedanceParams` as Apiframe accepts it. */
export const WireSeedanceParams = withSeedanceRules(z.strictObject(seedanceFields(remoteRef)));
export type WireSeedanceParams = z.output<typeof WireSeedanceParams>;

export const WEBHOOK_EVENTS = ['progress', 'completed', 'failed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The body of `POST /v2/videos/generate` for the Seedance 2 family, as Apiframe validates it. */
export const WireVideoRequestShape = z.strictObject({
  model: z.enum(MODELS),
  prompt: promptSchema,
  seedanceParams: WireSeedanceParams.optional(),
  webhookUrl: z.url().optional(),
  webhookEvents: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
});
/** The body with the model's own resolutions enforced (Apiframe's oneOf picks the branch by `model`). */
export const WireVideoRequest = WireVideoRequestShape.superRefine(
  (body, ctx) => {
    const broken = modelRuleBreak(body.model, body.seedanceParams?.resolution ?? DEFAULTS.resolution);
    if (broken !== undefined)
      ctx.addIssue({ code: 'custom', path: ['seedanceParams', 'resolution'], message: broken.message });
  },
  { when: (payload) => payload.issues.length === 0 },
);
export type WireVideoRequest = z.output<typeof WireVideoRequest>;

/** A request whose media references are all remote (uploaded or given as URLs): ready to be priced and sent. */
export interface ResolvedRequest {
  /** DEFAULT_MODEL when not given. */
  model?: Model;
  prompt: string;
  params: WireSeedanceParams;
}

/**
 * The wire body. Every field with a default is sent resolved, so Apiframe charges for exactly what was priced even if
 * its own defaults change.
 */
export function wireBody(request: ResolvedRequest): WireVideoRequest {
  const seedanceParams = WireSeedanceParams.parse(request.params);
  return { model: request.model ?? DEFAULT_MODEL, prompt: request.prompt, seedanceParams };
}

export function referenceCount(params: Partial<Record<MediaField, string | string[] | undefined>>): number {
  return (
    (params.reference_image_urls?.length ?? 0) +
    (params.reference_video_urls?.length ?? 0) +
    (params.reference_audio_urls?.length ?? 0)
  );
}

/** A Seedance rule a request breaks: refused before anything is uploaded or sent, by the server and simulator alike. */
export interface RuleBreak {
  code: string;
  /** The field the break is reported on first, then the others involved. */
  fields: [string, ...string[]];
  /** What is wrong and how to fix it. */
  message: string;
}

const REFERENCE_FIELDS = ['reference_image_urls', 'reference_video_urls', 'reference_audio_urls'] as const;

/** A resolution the chosen model does not make, named with the ones it does. */
export function modelRuleBreak(model: Model, resolution: Resolution): RuleBreak | undefined {
  const allowed = modelResolutions(model);
  if (allowed.includes(resolution)) return undefined;
  return {
    code: 'resolution_for_model',
    fields: ['resolution', 'model'],
    message: `${model} makes ${allowed.join(', ')} only: use one of them, or a model that makes ${resolution}.`,
  };
}

/**
 * Seedance's cross-field rules (known from third-party copies of ByteDance's docs): a request that breaks one is
 * either refused upstream or generated without honouring its inputs, so it is refused before it costs anything.
 */
export function ruleBreaks(params: Partial<Record<MediaField, string | string[] | undefined>>): RuleBreak[] {
  const breaks: RuleBreak[] = [];
  const refs = referenceCount(params);
  const visualRefs = (params.reference_image_urls?.length ?? 0) + (params.reference_video_urls?.length ?? 0);
  if (params.end_image !== undefined && params.start_image === undefined) {
    breaks.push({
      code: 'end_without_start',
      fields: ['end_image', 'start_image'],
      message:
        'end_image needs start_image: add the first frame as start_image, or give this image as start_image alone.',
    });
  }
  if ((params.start_image !== undefined || params.end_image !== undefined) && refs > 0) {
    breaks.push({
      code: 'frames_with_references',
      fields: ['start_image', 'end_image', ...REFERENCE_FIELDS],
      message:
        'first/last-frame mode (start_image, end_image) and reference mode (reference_*_urls) are exclusive: keep one of them and drop the other.',
    });
  }
  if ((params.reference_audio_urls?.length ?? 0) > 0 && visualRefs === 0) {
    breaks.push({
      code: 'audio_without_visual_reference',
      fields: ['reference_audio_urls', 'reference_image_urls', 'reference_video_urls'],
      message:
        'reference_audio_urls needs a reference image or video too: add reference_image_urls or reference_video_urls, or drop the audio.',
    });
  }
  if (refs > LIMITS.referenceFilesTotal) {
    breaks.push({
      code: 'too_many_references',
      fields: [...REFERENCE_FIELDS],
      message: `at most ${LIMITS.referenceFilesTotal} reference files in all (images, videos and audio together); ${refs} were given: drop ${refs - LIMITS.referenceFilesTotal}.`,
    });
  }
  return breaks;
}

type WithMediaFields = z.ZodType<
  Partial<Record<MediaField, string | string[] | undefined>> & { model?: Model; resolution?: Resolution }
>;

/**
 * The schema with the rules as zod issues: every schema that holds Seedance parameters (the agent's, the wire's and
 * so the simulator's, each tool's) is made with this. They judge a request only once each field is valid.
 */
export function withSeedanceRules<S extends WithMediaFields>(schema: S): S {
  return schema.superRefine(
    (params, ctx) => {
      const modelBreak =
        params.model === undefined || params.resolution === undefined
          ? undefined
          : modelRuleBreak(params.model, params.resolution);
      for (const rule of [...ruleBreaks(params), ...(modelBreak === undefined ? [] : [modelBreak])]) {
        ctx.addIssue({ code: 'custom', path: [rule.fields[0]], message: rule.message });
      }
    },
    { when: (payload) => payload.issues.length === 0 },
  );
}

/** A reference as an agent names it: `start_image`, or `reference_image_urls[2]` for one in an array. */
export function refName(field: MediaField, index: number | undefined): string {
  return index === undefined ? field : `${field}[${index}]`;
}

/** What was read from a media file's bytes: its size, and its pixels or its length when the kind has them. */
export interface MediaMeasure {
  field: MediaField;
  /** Position in a reference array; undefined for start_image and end_image. */
  index: number | undefined;
  kind: MediaKind;
  /** As sniffed from the bytes (media.ts). */
  contentType: string;
  bytes: number;
  width?: number | undefined;
  height?: number | undefined;
  seconds?: number | undefined;
}

/**
 * The media rules, judged on measured files: each image alone, reference videos and audio by their total length.
 * `unmeasured` names the fields that also hold references not measured (remote files): their totals can only grow,
 * so only the maxima are judged for them.
 */
export function mediaRuleBreaks(
  measures: readonly MediaMeasure[],
  unmeasured: ReadonlySet<MediaField> = new Set(),
): RuleBreak[] {
  const breaks: RuleBreak[] = [];
  const { image, referenceVideoSeconds, referenceAudioSeconds } = LIMITS;
  for (const m of measures) {
    if (m.kind !== 'image') continue;
    const field = refName(m.field, m.index);
    const problems: string[] = [];
    if (m.bytes > image.maxBytes)
      problems.push(`${Math.round(m.bytes / 1024 / 1024)} MB is over ${image.maxBytes / 1024 / 1024} MB`);
    if (m.width !== undefined && m.height !== undefined) {
      const small = Math.min(m.width, m.height);
      const large = Math.max(m.width, m.height);
      const aspect = m.width / m.height;
      if (small < image.minSide || large > image.maxSide)
        problems.push(`${m.width}x${m.height} px is outside ${image.minSide}-${image.maxSide} px a side`);
      if (aspect < image.minAspect || aspect > image.maxAspect)
        problems.push(
          `its aspect ${aspect.toFixed(2)} (width/height) is outside ${image.minAspect}-${image.maxAspect}`,
        );
    }
    if (problems.length > 0) {
      breaks.push({
        code: 'image_out_of_limits',
        fields: [field],
        message: `${problems.join('; ')}: resize or crop the image to fit, then call again.`,
      });
    }
  }
  const formats = [
    ['reference_video_urls', LIMITS.referenceVideoTypes, 'MP4 or MOV'],
    ['reference_audio_urls', LIMITS.referenceAudioTypes, 'MP3 or WAV'],
  ] as const;
  for (const [field, types, names] of formats) {
    for (const m of measures) {
      if (m.field !== field || (types as readonly string[]).includes(m.contentType)) continue;
      breaks.push({
        code: 'reference_format',
        fields: [refName(field, m.index)],
        message: `is ${m.contentType}, and Seedance takes ${names} here: convert it, then call again.`,
      });
    }
  }
  const total = (field: MediaField) =>
    measures.filter((m) => m.field === field).reduce((sum, m) => sum + (m.seconds ?? 0), 0);
  const videoSeconds = total('reference_video_urls');
  if (
    measures.some((m) => m.field === 'reference_video_urls') &&
    ((videoSeconds < referenceVideoSeconds.min && !unmeasured.has('reference_video_urls')) ||
      videoSeconds > referenceVideoSeconds.max)
  ) {
    breaks.push({
      code: 'reference_video_length',
      fields: ['reference_video_urls'],
      message: `reference videos must last ${referenceVideoSeconds.min}-${referenceVideoSeconds.max} s in all; these last ${videoSeconds.toFixed(1)} s: trim, add or drop videos to fit.`,
    });
  }
  const audioSeconds = total('reference_audio_urls');
  if (audioSeconds > referenceAudioSeconds.max) {
    breaks.push({
      code: 'reference_audio_length',
      fields: ['reference_audio_urls'],
      message: `reference audio may last at most ${referenceAudioSeconds.max} s in all; these last ${audioSeconds.toFixed(1)} s: trim or drop audio files.`,
    });
  }
  return breaks;
}

/** Rule breaks as field issues, for an InvalidArgumentsError. */
export function ruleIssues(breaks: readonly RuleBreak[]): FieldIssue[] {
  return breaks.map((b) => ({ field: b.fields[0], message: b.message }));
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
