/**
 * The one Seedance parameter model: held against Apiframe's own spec (read from openapi.json, never restated here),
 * its defaults, the wire body, each model's resolutions, field-named errors, media references and Seedance's cross-field and media rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type * as z from 'zod';
import { toJsonSchema } from '../src/core/json-schema.js';
import {
  AgentSeedanceParams,
  DEFAULT_MODEL,
  fieldIssues,
  LIMITS,
  MODEL_RESOLUTIONS,
  MODELS,
  mediaRuleBreaks,
  modelField,
  promptSchema,
  ruleBreaks,
  WireSeedanceParams,
  WireVideoRequest,
  wireBody,
} from '../src/domain/params.js';
import { contractProblems, openapi } from './helpers/contract.js';

type Schema = Record<string, unknown>;

function seedanceBranch(name: string = DEFAULT_MODEL): Schema {
  const request = openapi.components.schemas.GenerateVideoRequest as { oneOf: Schema[] };
  const branches = request.oneOf.filter((b) => {
    const model = (b.properties as Record<string, Schema>).model;
    return (model?.enum as unknown[] | undefined)?.includes(name) || model?.const === name;
  });
  expect(branches).toHaveLength(1);
  return branches[0] as Schema;
}

/** The value set a schema allows: `enum`, `const`, or an anyOf of single-value enums (how the spec writes them). */
function allowedValues(schema: Schema): unknown[] | undefined {
  if (Array.isArray(schema.enum)) return [...schema.enum].sort();
  if ('const' in schema) return [schema.const];
  if (Array.isArray(schema.anyOf)) {
    const parts = (schema.anyOf as Schema[]).map(allowedValues);
    if (parts.every((p) => p !== undefined)) return parts.flat().sort();
  }
  return undefined;
}

function typeOf(schema: Schema): unknown {
  if (schema.type !== undefined) return schema.type;
  if (Array.isArray(schema.anyOf)) {
    const types = new Set((schema.anyOf as Schema[]).map(typeOf));
    if (types.size === 1) return [...types][0];
  }
  return undefined;
}

const CONSTRAINTS = [
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'format',
  'additionalProperties',
] as const;

/** What a property means to a validator, with descriptions, defaults and spelling differences left out. */
function meaning(schema: Schema): Schema {
  const out: Schema = { type: typeOf(schema) };
  const values = allowedValues(schema);
  if (values !== undefined) out.enum = values;
  for (const key of CONSTRAINTS) if (schema[key] !== undefined) out[key] = schema[key];
  if (schema.items !== undefined) out.items = meaning(schema.items as Schema);
  if (schema.properties !== undefined) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties as Record<string, Schema>).map(([k, v]) => [k, meaning(v)]),
    );
  }
  if (schema.required !== undefined) out.required = [...(schema.required as string[])].sort();
  return out;
}

/**
 * The model's one deliberate addition to the spec: media references are bounded at LIMITS.mediaRef characters (the
 * spec leaves them unbounded). It is taken out here after checking it is exactly that bound, so that any other
 * difference still fails.
 */
function withoutMediaRefBound(schema: Schema): Schema {
  const copy = structuredClone(schema);
  const props = copy.properties as Record<string, Schema>;
  for (const prop of Object.values(props)) {
    const ref = (prop.type === 'array' ? prop.items : prop) as Schema;
    if (ref.format === 'uri') {
      expect(ref.maxLength).toBe(LIMITS.mediaRef);
      delete ref.maxLength;
    }
  }
  return copy;
}

describe('the model against the seedance-2 branch of GenerateVideoRequest in openapi.json', () => {
  const spec = seedanceBranch();
  const specParams = (spec.properties as Record<string, Schema>).seedanceParams as Schema;
  const request = toJsonSchema(WireVideoRequest, 'input');
  const params = toJsonSchema(WireSeedanceParams, 'input');

  it('has the same request keys, required keys, prompt limits and no additional properties', () => {
    const modelProps = request.properties as Record<string, Schema>;
    const specProps = spec.properties as Record<string, Schema>;
    expect(Object.keys(modelProps).sort()).toEqual(Object.keys(specProps).sort());
    expect([...(request.required as string[])].sort()).toEqual([...(spec.required as string[])].sort());
    expect(request.additionalProperties).toBe(false);
    expect(spec.additionalProperties).toBe(false);
    const prompt = modelProps.prompt as Schema;
    const specPrompt = specProps.prompt as Schema;
    expect(specPrompt.minLength).toBeTypeOf('number');
    expect(specPrompt.maxLength).toBeTypeOf('number');
    expect(prompt.minLength).toBe(specPrompt.minLength);
    expect(prompt.maxLength).toBe(specPrompt.maxLength);
    for (const key of ['prompt', 'webhookUrl', 'webhookEvents']) {
      expect(meaning(modelProps[key] as Schema), key).toEqual(meaning(specProps[key] as Schema));
    }
    // `model` is the family: each value is the model of one branch of the spec (held in the describe below).
    expect(meaning(modelProps.model as Schema)).toEqual({ type: 'string', enum: [...MODELS].sort() });
  });

  it('has the same seedanceParams keys, and additionalProperties false', () => {
    expect(Object.keys(params.properties as Schema).sort()).toEqual(
      Object.keys(specParams.properties as Schema).sort(),
    );
    expect(params.additionalProperties).toBe(false);
    expect(specParams.additionalProperties).toBe(false);
    // The params schema embedded in the request is the same one.
    expect((request.properties as Record<string, Schema>).seedanceParams).toEqual(params);
  });

  it('gives every seedanceParams field the same type, limits and enum', () => {
    const model = meaning(withoutMediaRefBound(params)).properties as Record<string, Schema>;
    const expected = meaning(specParams).properties as Record<string, Schema>;
    for (const key of Object.keys(expected)) {
      expect(model[key], `seedanceParams.${key}`).toEqual(expected[key]);
    }
  });

  it('writes aspect_ratio as the same value set the spec spells as anyOf of single-value enums', () => {
    const specAspect = (specParams.properties as Record<string, Schema>).aspect_ratio as Schema;
    expect(Array.isArray(specAspect.anyOf)).toBe(true);
    const values = allowedValues(specAspect);
    expect(values?.length).toBeGreaterThan(1);
    expect(allowedValues((params.properties as Record<string, Schema>).aspect_ratio as Schema)).toEqual(
      values,
    );
  });

  it('reads the limits it enforces from the same numbers (duration, reference counts)', () => {
    const specProps = specParams.properties as Record<string, Schema>;
    const max = (n: unknown) => n as number;
    // Accepts the spec's bounds and refuses one past them.
    const duration = specProps.duration as Schema;
    expect(WireSeedanceParams.safeParse({ duration: duration.minimum }).success).toBe(true);
    expect(WireSeedanceParams.safeParse({ duration: duration.maximum }).success).toBe(true);
    expect(WireSeedanceParams.safeParse({ duration: max(duration.minimum) - 1 }).success).toBe(false);
    expect(WireSeedanceParams.safeParse({ duration: max(duration.maximum) + 1 }).success).toBe(false);
    for (const field of ['reference_image_urls', 'reference_video_urls', 'reference_audio_urls']) {
      const limit = max((specProps[field] as Schema).maxItems);
      const urls = (n: number) => Array.from({ length: n }, (_, i) => `https://example.com/${i}.bin`);
      // Reference audio needs a reference image beside it (a Seedance rule, not a count limit).
      const beside = field === 'reference_audio_urls' ? { reference_image_urls: urls(1) } : {};
      expect(WireSeedanceParams.safeParse({ ...beside, [field]: urls(limit) }).success, field).toBe(true);
      expect(WireSeedanceParams.safeParse({ ...beside, [field]: urls(limit + 1) }).success, field).toBe(
        false,
      );
    }
  });
});

describe('defaults and the wire body', () => {
  it('resolves every default of the Seedance page', () => {
    const resolved = AgentSeedanceParams.parse({});
    expect(resolved).toEqual({
      duration: 8,
      resolution: '720p',
      aspect_ratio: '16:9',
      generate_audio: true,
      return_last_frame: false,
      web_search: false,
      camera_fixed: false,
    });
    expect(WireSeedanceParams.parse({})).toEqual(resolved);
  });

  it('keeps what was given instead of the default', () => {
    const resolved = AgentSeedanceParams.parse({ duration: 5, generate_audio: false, seed: 7 });
    expect(resolved.duration).toBe(5);
    expect(resolved.generate_audio).toBe(false);
    expect(resolved.seed).toBe(7);
  });

  it('sends duration, resolution and aspect_ratio explicitly even when they were not given', () => {
    const body = wireBody({ prompt: 'a kite', params: {} as WireSeedanceParams });
    const sent = JSON.parse(JSON.stringify(body)) as {
      model: string;
      prompt: string;
      seedanceParams: Record<string, unknown>;
    };
    expect(sent.model).toBe(DEFAULT_MODEL);
    expect(sent.prompt).toBe('a kite');
    expect(sent.seedanceParams).toMatchObject({ duration: 8, resolution: '720p', aspect_ratio: '16:9' });
    // What is sent is itself a valid wire request.
    expect(WireVideoRequest.safeParse(sent).success).toBe(true);
  });

  it('sends the values given, and no media field that was not given', () => {
    const body = wireBody({
      prompt: 'p',
      params: WireSeedanceParams.parse({ duration: 12, resolution: '1080p', aspect_ratio: '9:16' }),
    });
    expect(body.seedanceParams).toMatchObject({ duration: 12, resolution: '1080p', aspect_ratio: '9:16' });
    expect(body.seedanceParams).not.toHaveProperty('start_image');
    expect(body.seedanceParams).not.toHaveProperty('reference_video_urls');
  });
});

describe.each(MODELS)('%s against its own branch of GenerateVideoRequest', (name) => {
  const spec = seedanceBranch(name);
  const specParams = (spec.properties as Record<string, Schema>).seedanceParams as Schema;
  const params = toJsonSchema(WireSeedanceParams, 'input');

  it("makes exactly the branch's resolutions", () => {
    const specResolution = (specParams.properties as Record<string, Schema>).resolution as Schema;
    expect([...MODEL_RESOLUTIONS[name]].sort()).toEqual(allowedValues(specResolution));
  });

  it('shares every other seedanceParams field, limit and request key with the model', () => {
    const model = meaning(withoutMediaRefBound(params)).properties as Record<string, Schema>;
    const expected = meaning(specParams).properties as Record<string, Schema>;
    expect(Object.keys(model).sort()).toEqual(Object.keys(expected).sort());
    for (const key of Object.keys(expected)) {
      if (key !== 'resolution') expect(model[key], `seedanceParams.${key}`).toEqual(expected[key]);
    }
    expect(Object.keys(spec.properties as Schema).sort()).toEqual(
      Object.keys(seedanceBranch().properties as Schema).sort(),
    );
  });
});

describe('the model field', () => {
  it('says the per-model rules once, from the table', () => {
    expect(modelField.description).toBe('Resolution: seedance-2-fast, seedance-2-mini: 480p/720p only.');
  });
});

describe('validation errors name the field', () => {
  function issuesOf(schema: z.ZodType, input: unknown) {
    const parsed = schema.safeParse(input);
    expect(parsed.success, JSON.stringify(input)).toBe(false);
    return fieldIssues((parsed as { error: z.ZodError }).error);
  }

  it('says which values are allowed for a bad resolution', () => {
    const issues = issuesOf(AgentSeedanceParams, { resolution: '2160p' });
    expect(issues[0]?.field).toBe('resolution');
    expect(issues[0]?.message).toMatch(/480p, 720p, 1080p, 4k/);
  });

  it("refuses a resolution the model does not make, naming the model's resolutions, on the wire too", () => {
    const body = { model: 'seedance-2-fast', prompt: 'p', seedanceParams: { resolution: '1080p' } };
    const issues = issuesOf(WireVideoRequest, body);
    expect(issues).toEqual([
      {
        field: 'seedanceParams.resolution',
        message: 'seedance-2-fast makes 480p, 720p only: use one of them, or a model that makes 1080p.',
      },
    ]);
    expect(WireVideoRequest.safeParse({ ...body, seedanceParams: { resolution: '720p' } }).success).toBe(
      true,
    );
    expect(WireVideoRequest.safeParse({ ...body, model: 'seedance-2.5' }).success).toBe(true);
  });

  it.each([3, 16, 4.5, Number.NaN, '5'])('refuses duration %s', (duration) => {
    const issues = issuesOf(AgentSeedanceParams, { duration });
    expect(issues.map((i) => i.field)).toEqual(['duration']);
  });

  const url = (i: number) => `https://example.com/${i}.png`;
  it.each([
    ['reference_image_urls', { reference_image_urls: Array.from({ length: 10 }, (_, i) => url(i)) }],
    ['reference_video_urls', { reference_video_urls: Array.from({ length: 4 }, (_, i) => url(i)) }],
    ['aspect_ratio', { aspect_ratio: '2:1' }],
    ['start_image', { start_image: 'images/cat.png' }],
    ['start_image', { start_image: 'ftp://example.com/cat.png' }],
    ['end_image', { end_image: 'asset://' }],
    ['reference_image_urls[1]', { reference_image_urls: [url(0), 'cat.png'] }],
    ['camera_fixed', { camera_fixed: 'yes' }],
    ['seed', { seed: 1.5 }],
  ])('names %s', (field, input) => {
    for (const schema of [AgentSeedanceParams, WireSeedanceParams]) {
      expect(issuesOf(schema, input).map((i) => i.field)).toEqual([field]);
    }
  });

  it('names an unknown key and says it is not a known parameter', () => {
    const issues = issuesOf(AgentSeedanceParams, { duration: 5, negative_prompt: 'blur' });
    expect(issues).toEqual([{ field: 'negative_prompt', message: 'is not a known parameter' }]);
    expect(
      issuesOf(WireVideoRequest, { model: DEFAULT_MODEL, prompt: 'p', seedanceParams: { fps: 24 } }),
    ).toEqual([{ field: 'seedanceParams.fps', message: 'is not a known parameter' }]);
  });

  it('refuses an empty prompt and one over the limit, naming prompt', () => {
    for (const prompt of ['', 'x'.repeat(LIMITS.prompt.max + 1)]) {
      const issues = issuesOf(WireVideoRequest, { model: DEFAULT_MODEL, prompt });
      expect(issues.map((i) => i.field)).toEqual(['prompt']);
    }
    expect(issuesOf(WireVideoRequest, { model: DEFAULT_MODEL, prompt: '' })[0]?.message).toMatch(/empty/);
    expect(promptSchema.safeParse('x'.repeat(LIMITS.prompt.max)).success).toBe(true);
  });

  it('reports several problems at once, each with its field', () => {
    const issues = issuesOf(AgentSeedanceParams, { duration: 99, aspect_ratio: 'square', bogus: 1 });
    expect(issues.map((i) => i.field).sort()).toEqual(['aspect_ratio', 'bogus', 'duration']);
  });
});

describe('media references', () => {
  const remote = ['https://example.com/a.png', 'http://example.com/a.png', 'asset://abc-123'];
  const local = ['/home/me/x.png', '~/x.png', 'file:///x.png'];

  it.each(remote)('accepts %s in both the agent and the wire model', (ref) => {
    expect(AgentSeedanceParams.safeParse({ start_image: ref }).success).toBe(true);
    expect(WireSeedanceParams.safeParse({ start_image: ref }).success).toBe(true);
    expect(WireSeedanceParams.safeParse({ reference_image_urls: [ref] }).success).toBe(true);
  });

  it.each(local)('accepts local file %s from an agent, but never on the wire', (ref) => {
    expect(AgentSeedanceParams.safeParse({ start_image: ref }).success).toBe(true);
    expect(AgentSeedanceParams.safeParse({ reference_video_urls: [ref] }).success).toBe(true);
    const wire = WireSeedanceParams.safeParse({ start_image: ref });
    expect(wire.success).toBe(false);
    expect(fieldIssues((wire as { error: z.ZodError }).error).map((i) => i.field)).toEqual(['start_image']);
  });

  it('agrees between the agent and the wire model on every asset URI', () => {
    // An asset URI an agent may give must be one that can be sent: the wire model holds it to `format: uri`, where
    // a colon in the authority starts a numeric port.
    const sample = [
      'asset://a:b',
      'asset://asset-1:v2',
      'asset://a:1',
      'asset://x.y-z_0',
      'asset://-a',
      'asset://',
    ];
    const idChars = fc.constantFrom(...'aZ09._:-/?#%@ '.split(''));
    const generated = fc.sample(fc.array(idChars, { minLength: 0, maxLength: 16 }), {
      numRuns: 2_000,
      seed: 2,
    });
    for (const ref of [...sample, ...generated.map((cs) => `asset://${cs.join('')}`)]) {
      // The agent model may be stricter (it refuses surrounding spaces the wire model trims), never looser.
      if (AgentSeedanceParams.safeParse({ start_image: ref }).success) {
        expect({ ref, wire: WireSeedanceParams.safeParse({ start_image: ref }).success }).toEqual({
          ref,
          wire: true,
        });
      }
    }
  });

  it('sends every media reference it accepts as a URI the spec accepts', () => {
    // openapi.json says `format: uri` (RFC 3986): spaces, non-ASCII and the like must go out percent-encoded.
    const refs = [
      'https://example.com/my photo.png',
      'https://example.com/café.png',
      'https://例子.com/a.png',
      'https://example.com/a|b{c}^d.png',
      'https://example.com/a.png?sig=x y',
      'http://[::1]/a.png',
      'asset://abc-123',
      ...fc.sample(fc.webUrl({ withQueryParameters: true, withFragments: true }), { numRuns: 300, seed: 3 }),
    ];
    for (const ref of refs) {
      const parsed = WireSeedanceParams.safeParse({ start_image: ref, reference_image_urls: [ref] });
      if (!parsed.success) continue;
      const body = wireBody({ prompt: 'p', params: parsed.data });
      const problems = contractProblems({
        route: 'submit',
        method: 'POST',
        path: '/v2/videos/generate',
        status: undefined,
        idempotencyKey: undefined,
        requestBody: JSON.parse(JSON.stringify(body)),
        responseBody: undefined,
        fault: undefined,
      });
      expect({ ref, problems }).toEqual({ ref, problems: [] });
    }
    // Still the same resource: only the spelling changes.
    const spaced = WireSeedanceParams.parse({ start_image: 'https://example.com/my photo.png' });
    expect(spaced.start_image).toBe('https://example.com/my%20photo.png');
    expect(WireSeedanceParams.parse({ start_image: 'asset://abc-123' }).start_image).toBe('asset://abc-123');
  });

  it('says what a media reference may be', () => {
    const parsed = AgentSeedanceParams.safeParse({ start_image: 'cat.png' });
    const message = fieldIssues((parsed as { error: z.ZodError }).error)[0]?.message ?? '';
    expect(message).toMatch(/URL/);
    expect(message).toMatch(/asset:\/\//);
    expect(message).toMatch(/absolute local file path/);
  });
});

describe('ruleBreaks: Seedance rules refused by every schema of the model', () => {
  const img = 'https://example.com/i.png';
  const vid = 'https://example.com/v.mp4';
  const aud = 'https://example.com/a.mp3';
  const codes = (params: Parameters<typeof ruleBreaks>[0]) => ruleBreaks(params).map((w) => w.code);

  it('is silent on clean requests', () => {
    expect(codes({})).toEqual([]);
    expect(codes({ start_image: img })).toEqual([]);
    expect(codes({ start_image: img, end_image: img })).toEqual([]);
    expect(codes({ reference_image_urls: [img], reference_audio_urls: [aud] })).toEqual([]);
    expect(codes({ reference_video_urls: [vid], reference_audio_urls: [aud, aud, aud] })).toEqual([]);
    expect(
      codes({
        reference_image_urls: Array(9).fill(img),
        reference_video_urls: Array(3).fill(vid),
      }),
    ).toEqual([]);
  });

  it('refuses first/last-frame mode mixed with reference mode', () => {
    expect(codes({ start_image: img, reference_image_urls: [img] })).toEqual(['frames_with_references']);
    expect(codes({ start_image: img, end_image: img, reference_video_urls: [vid] })).toEqual([
      'frames_with_references',
    ]);
  });

  it('refuses an end frame without a start frame, naming both fields and the fix', () => {
    const breaks = ruleBreaks({ end_image: img });
    expect(breaks.map((w) => w.code)).toEqual(['end_without_start']);
    expect(breaks[0]?.fields).toEqual(['end_image', 'start_image']);
    expect(breaks[0]?.message).toMatch(/add the first frame as start_image/);
  });

  it('refuses reference audio without a reference image or video', () => {
    expect(codes({ reference_audio_urls: [aud] })).toEqual(['audio_without_visual_reference']);
  });

  it('refuses over the total reference count, and not at it', () => {
    const over = {
      reference_image_urls: Array(9).fill(img),
      reference_video_urls: Array(3).fill(vid),
      reference_audio_urls: [aud],
    };
    const breaks = ruleBreaks(over);
    expect(breaks.map((w) => w.code)).toEqual(['too_many_references']);
    expect(breaks[0]?.message).toContain(String(LIMITS.referenceFilesTotal));
    expect(breaks[0]?.message).toContain('13');
  });

  it("makes the agent schema and the wire schema (the simulator's) refuse alike", () => {
    for (const schema of [AgentSeedanceParams, WireSeedanceParams]) {
      const parsed = schema.safeParse({ end_image: img, reference_audio_urls: [aud] });
      expect(parsed.success).toBe(false);
      const fields = fieldIssues((parsed as { error: z.ZodError }).error).map((i) => i.field);
      expect(fields.sort()).toEqual(['end_image', 'reference_audio_urls', 'start_image'].sort());
    }
  });
});

describe('mediaRuleBreaks: measured media', () => {
  const image = (width: number, height: number, bytes = 1000) =>
    ({
      field: 'reference_image_urls',
      index: 0,
      kind: 'image',
      contentType: 'image/png',
      bytes,
      width,
      height,
    }) as const;
  const clip = (field: 'reference_video_urls' | 'reference_audio_urls', seconds: number, index = 0) => ({
    field,
    index,
    kind: field === 'reference_video_urls' ? ('video' as const) : ('audio' as const),
    contentType: field === 'reference_video_urls' ? 'video/mp4' : 'audio/wav',
    bytes: 1000,
    seconds,
  });

  it('accepts images inside the pixel and aspect limits, at the limits too', () => {
    expect(mediaRuleBreaks([image(300, 300), image(6000, 2400), image(1920, 1080)])).toEqual([]);
  });

  it('refuses images too small, too large or too narrow, naming the field', () => {
    for (const [w, h] of [
      [299, 400],
      [6001, 3000],
      [300, 800],
    ] as const) {
      const breaks = mediaRuleBreaks([image(w, h)]);
      expect(breaks.map((b) => b.code)).toEqual(['image_out_of_limits']);
      expect(breaks[0]?.fields).toEqual(['reference_image_urls[0]']);
    }
  });

  it('judges reference videos by their total length: 2-15 s', () => {
    expect(mediaRuleBreaks([clip('reference_video_urls', 1.5)]).map((b) => b.code)).toEqual([
      'reference_video_length',
    ]);
    expect(mediaRuleBreaks([clip('reference_video_urls', 8), clip('reference_video_urls', 7, 1)])).toEqual(
      [],
    );
    expect(
      mediaRuleBreaks([clip('reference_video_urls', 8), clip('reference_video_urls', 7.5, 1)]).map(
        (b) => b.code,
      ),
    ).toEqual(['reference_video_length']);
  });

  it('judges only the maximum when some reference videos could not be measured (remote)', () => {
    const short = [clip('reference_video_urls', 1)];
    expect(mediaRuleBreaks(short, new Set(['reference_video_urls']))).toEqual([]);
    const long = [clip('reference_video_urls', 16)];
    expect(mediaRuleBreaks(long, new Set(['reference_video_urls']))[0]?.code).toBe('reference_video_length');
  });

  it('judges reference audio by its total length: at most 15 s', () => {
    expect(mediaRuleBreaks([clip('reference_audio_urls', 15)])).toEqual([]);
    expect(
      mediaRuleBreaks([clip('reference_audio_urls', 10), clip('reference_audio_urls', 6, 1)])[0]?.code,
    ).toBe('reference_audio_length');
  });

  it('takes reference videos as MP4 or MOV and reference audio as MP3 or WAV only', () => {
    const webm = { ...clip('reference_video_urls', 5), contentType: 'video/webm' };
    const ogg = { ...clip('reference_audio_urls', 5), contentType: 'audio/ogg' };
    const breaks = mediaRuleBreaks([webm, ogg]);
    expect(breaks.map((b) => b.fields[0])).toEqual(['reference_video_urls[0]', 'reference_audio_urls[0]']);
    expect(breaks[0]?.message).toMatch(/video\/webm.*MP4 or MOV/);
  });
});
