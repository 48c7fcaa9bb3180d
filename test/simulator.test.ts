/**
 * The Apiframe simulator through real HTTP on loopback: what any client (ours, curl, Apiframe's SDK) sees. Every
 * exchange is also held against openapi.json by useSimulator(); requests made invalid on purpose say so.
 */
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { newIdempotencyKey } from '../src/apiframe/client.js';
import { packageAsset } from '../src/core/package-files.js';
import { UPLOAD_LIMITS } from '../src/domain/media.js';
import { DEFAULT_MODEL as MODEL } from '../src/domain/params.js';
import { DEFAULT_PRICES, estimate } from '../src/domain/pricing.js';
import { FAILURE_MARKER, type Simulator } from '../src/simulator/server.js';
import { probeBytes } from './helpers/media.js';
import { clientFor, TEST_KEY, useSimulator } from './helpers/simulator.js';
import { waitUntil } from './helpers/wait.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MiB = 1024 * 1024;

interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

interface CallOptions {
  method?: string;
  body?: unknown;
  /** The X-API-Key header; null sends none. */
  key?: string | null;
  headers?: Record<string, string>;
}

async function call<T = Record<string, unknown>>(
  sim: Simulator,
  path: string,
  options: CallOptions = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? TEST_KEY : options.key;
  if (key !== null) headers['x-api-key'] = key;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(sim.url + path, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: (text === '' ? undefined : JSON.parse(text)) as T,
  };
}

const video = (prompt = 'a red kite over a green hill', seedanceParams: Record<string, unknown> = {}) => ({
  model: MODEL,
  prompt,
  seedanceParams: { duration: 5, resolution: '720p', aspect_ratio: '16:9', ...seedanceParams },
});

/** What POST /v2/videos/generate answers: 202 JobAccepted, or an error with per-path details. */
interface Submitted {
  jobId: string;
  status: string;
  error?: string;
  details?: Record<string, string[]>;
}

async function submit(sim: Simulator, body: unknown = video(), headers: Record<string, string> = {}) {
  return call<Submitted>(sim, '/v2/videos/generate', { body, headers });
}

async function submitted(sim: Simulator, body: unknown = video()): Promise<string> {
  const answer = await submit(sim, body);
  expect(answer.status).toBe(202);
  return answer.body.jobId;
}

type JobJson = {
  id: string;
  status: string;
  progress: number | null;
  result: unknown;
  error: string | null;
  creditCost: number | null;
  createdAt: string;
  completedAt: string | null;
};

const getJob = (sim: Simulator, id: string) => call<JobJson>(sim, `/v2/jobs/${id}`);
const balance = async (sim: Simulator) =>
  (await call<{ team: { credits: number } }>(sim, '/v2/me')).body.team.credits;

/** A clock the test moves by hand: job and asset progression without waiting. */
function fakeClock(start = Date.parse('2025-06-01T12:00:00.000Z')) {
  const clock = {
    t: start,
    now: () => clock.t,
    advance(ms: number) {
      clock.t += ms;
    },
  };
  return clock;
}

type RawOutcome =
  | { kind: 'error'; code: string | undefined; message: string }
  | {
      kind: 'response';
      status: number;
      headers: IncomingHttpHeaders;
      body: string;
      complete: boolean;
      error?: string;
    };

/** One request on its own connection, with whatever the server does to it reported rather than thrown. */
function raw(sim: Simulator, method: string, path: string, body?: unknown): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      sim.url + path,
      {
        method,
        agent: false,
        headers: {
          'x-api-key': TEST_KEY,
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let error: string | undefined;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (e) => {
          error = e.message;
        });
        res.on('close', () =>
          resolve({
            kind: 'response',
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            complete: res.complete,
            ...(error === undefined ? {} : { error }),
          }),
        );
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      resolve({ kind: 'error', code: e.code, message: e.message }),
    );
    req.end(payload);
  });
}

describe('simulator: authentication', () => {
  const env = useSimulator();

  it.each([
    ['no key', null, 401, 'API key is required'],
    ['an empty key', '', 401, 'API key is required'],
    ['a key not of the afk_ form', 'sk_live_123', 401, 'Invalid API key'],
    ['an inactive key', 'afk_inactive', 403, 'API key is inactive'],
  ])('answers %s exactly as NOTES.md says', async (_label, key, status, error) => {
    const sim = await env.start();
    for (const path of ['/v2/me', '/v2/jobs']) {
      const answer = await call(sim, path, { key });
      expect(answer.status).toBe(status);
      expect(answer.body).toEqual({ error });
    }
    const submitAnswer = await call(sim, '/v2/videos/generate', { key, body: video() });
    expect(submitAnswer.status).toBe(status);
    expect(submitAnswer.body).toEqual({ error });
    expect(sim.jobCount).toBe(0);
  });

  it('accepts the key as a Bearer token too', async () => {
    const sim = await env.start();
    const answer = await call(sim, '/v2/me', { key: null, headers: { authorization: `Bearer ${TEST_KEY}` } });
    expect(answer.status).toBe(200);
  });

  it('answers /v2/me with the user, the team balance and the key', async () => {
    const sim = await env.start({ credits: 1234 });
    const answer = await call<{ team: { credits: number }; apiKey: { prefix: string } }>(sim, '/v2/me');
    expect(answer.status).toBe(200);
    expect(answer.body.team.credits).toBe(1234);
    expect(JSON.stringify(answer.body)).not.toContain(TEST_KEY);
  });
});

describe('simulator: strict validation', () => {
  const env = useSimulator();

  it('refuses an unknown key in seedanceParams with details keyed by JSON path', async () => {
    const sim = await env.start();
    env.allowViolation(/request: .*additional properties/);
    const answer = await submit(sim, video('x', { fps: 24 }));
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: 'Validation failed',
      details: { 'seedanceParams.fps': ['Unrecognized key'] },
    });
    expect(sim.jobCount).toBe(0);
  });

  it('refuses an unknown top-level key', async () => {
    const sim = await env.start();
    env.allowViolation(/request: .*additional properties/);
    const answer = await submit(sim, { ...video(), negative_prompt: 'blur' });
    expect(answer.status).toBe(400);
    expect((answer.body as { details?: Record<string, string[]> }).details).toHaveProperty('negative_prompt');
  });

  it.each([3, 16, 4.5])('refuses duration %s under seedanceParams.duration', async (duration) => {
    const sim = await env.start();
    env.allowViolation(/request: /);
    const answer = await submit(sim, video('x', { duration }));
    expect(answer.status).toBe(400);
    const details = answer.body.details ?? {};
    expect(Object.keys(details)).toEqual(['seedanceParams.duration']);
    expect(sim.jobCount).toBe(0);
  });

  it("refuses a resolution the model does not make, naming the model's resolutions", async () => {
    const sim = await env.start({ credits: 500 });
    // Outside the seedance-2-fast branch of the spec, on purpose.
    env.allowViolation(/request: /);
    const answer = await submit(sim, { ...video('x', { resolution: '1080p' }), model: 'seedance-2-fast' });
    expect(answer.status).toBe(400);
    const details = answer.body.details ?? {};
    expect(Object.keys(details)).toEqual(['seedanceParams.resolution']);
    expect(details['seedanceParams.resolution']?.[0]).toMatch(/seedance-2-fast makes 480p, 720p only/);
    expect(sim.jobCount).toBe(0);
    expect(await balance(sim)).toBe(500);
  });

  it("serves the public model catalog without a key, with each model's cost range per second", async () => {
    const sim = await env.start({ catalogModels: ['seedance-2', 'seedance-2-fast'] });
    const answer = await fetch(`${sim.url}/v2/models?modality=video`);
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { models: { id: string; costMin: number; costMax: number }[] };
    expect(body.models.map((m) => m.id)).toEqual(['seedance-2', 'seedance-2-fast']);
    expect(body.models[0]).toMatchObject({ costMin: 2, costMax: 50, pricingMode: 'per-second' });
    expect((await fetch(`${sim.url}/v2/models?modality=sound`)).status).toBe(400);
    env.allowViolation(/modality/);
  });

  it('prices every model of the family, 4k included, and reports the model of each job', async () => {
    const sim = await env.start({ credits: 1000, prices: { 'seedance-2-fast': { '720p': 3 } } });
    const fast = await submitted(sim, {
      ...video('x', { duration: 5, resolution: '720p' }),
      model: 'seedance-2-fast',
    });
    expect(await balance(sim)).toBe(985);
    expect((await getJob(sim, fast)).body).toMatchObject({ model: 'seedance-2-fast', creditCost: 15 });
    await submitted(sim, video('y', { duration: 4, resolution: '4k' }));
    expect(await balance(sim)).toBeLessThan(985);
  });

  it('keys array items by their index and refuses too many references', async () => {
    const sim = await env.start();
    env.allowViolation(/request: /);
    const answer = await submit(
      sim,
      video('x', { reference_image_urls: ['https://example.com/a.png', 'not a url'] }),
    );
    expect(answer.status).toBe(400);
    expect(Object.keys(answer.body.details ?? {})).toEqual(['seedanceParams.reference_image_urls.1']);
    const many = await submit(
      sim,
      video('x', { reference_video_urls: Array(4).fill('https://example.com/v.mp4') }),
    );
    expect(many.status).toBe(400);
    expect(Object.keys(many.body.details ?? {})).toEqual(['seedanceParams.reference_video_urls']);
  });

  it('refuses an empty prompt, another model and a body that is not JSON', async () => {
    const sim = await env.start();
    env.allowViolation(/request: /);
    const empty = await submit(sim, video(''));
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ details: { prompt: [expect.any(String)] } });
    const other = await submit(sim, { model: 'kling-2.1', prompt: 'x' });
    expect(other.status).toBe(400);
    expect(other.body).toMatchObject({ details: { model: [expect.stringContaining(MODEL)] } });
    const res = await fetch(`${sim.url}/v2/videos/generate`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_KEY, 'content-type': 'application/json' },
      body: '{"model": "seedance-2", ',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'Invalid JSON body' });
    expect(sim.jobCount).toBe(0);
  });

  it('accepts a request without seedanceParams and charges the defaults (8 s 720p)', async () => {
    const sim = await env.start({ credits: 1000 });
    const answer = await submit(sim, { model: MODEL, prompt: 'x' });
    expect(answer.status).toBe(202);
    expect(await balance(sim)).toBe(1000 - estimate({ duration: 8, resolution: '720p' }).credits);
  });
});

describe('simulator: credits', () => {
  const env = useSimulator();

  it('charges the price at submission', async () => {
    const sim = await env.start({ credits: 1000 });
    await submitted(sim, video('x', { duration: 12, reference_video_urls: ['https://example.com/m.mp4'] }));
    expect(await balance(sim)).toBe(1000 - 96);
  });

  it('answers 402 with creditsRequired and creditsAvailable, and leaves the balance unchanged', async () => {
    const sim = await env.start({ credits: 10 });
    const answer = await submit(sim, video('x', { duration: 5, resolution: '720p' }));
    expect(answer.status).toBe(402);
    expect(answer.body).toEqual({ error: 'Insufficient credits', creditsRequired: 20, creditsAvailable: 10 });
    expect(await balance(sim)).toBe(10);
    expect(sim.jobCount).toBe(0);
  });

  it('accepts a job costing exactly the balance', async () => {
    const sim = await env.start({ credits: 20 });
    await submitted(sim, video('x', { duration: 5, resolution: '720p' }));
    expect(await balance(sim)).toBe(0);
  });

  it('charges its own price table when given one (price drift)', async () => {
    const sim = await env.start({ credits: 1000, prices: { [MODEL]: { ...DEFAULT_PRICES, '720p': 5 } } });
    const id = await submitted(sim, video('x', { duration: 5, resolution: '720p' }));
    expect(await balance(sim)).toBe(975);
    expect((await getJob(sim, id)).body.creditCost).toBe(25);
  });

  it("shows creditCost only once COMPLETED with costVisibleAt: 'completion'", async () => {
    const clock = fakeClock();
    const sim = await env.start({
      now: clock.now,
      costVisibleAt: 'completion',
      queuedMs: 1_000,
      processingMs: 1_000,
    });
    const id = await submitted(sim);
    expect((await getJob(sim, id)).body).toMatchObject({ status: 'QUEUED', creditCost: null });
    clock.advance(1_500);
    expect((await getJob(sim, id)).body).toMatchObject({ status: 'PROCESSING', creditCost: null });
    clock.advance(1_000);
    expect((await getJob(sim, id)).body).toMatchObject({ status: 'COMPLETED', creditCost: 20 });
  });

  it('refunds a FAILED job in full, once, visible in /v2/me', async () => {
    const clock = fakeClock();
    const sim = await env.start({ credits: 100, now: clock.now, queuedMs: 1_000, processingMs: 10_000 });
    const id = await submitted(sim, video(`a kite, ${FAILURE_MARKER}`, { duration: 5 }));
    expect(await balance(sim)).toBe(80);
    expect((await getJob(sim, id)).body.status).toBe('QUEUED');
    clock.advance(11_000);
    // Nobody has looked at the job yet: the balance alone shows the refund.
    expect(await balance(sim)).toBe(100);
    const job = (await getJob(sim, id)).body;
    expect(job.status).toBe('FAILED');
    expect(job.error).toEqual(expect.any(String));
    expect(job.creditCost).toBe(0);
    expect(job.result).toBeNull();
    expect(await balance(sim)).toBe(100);
  });

  it('refunds a job failed through the control API', async () => {
    const clock = fakeClock();
    const sim = await env.start({ credits: 100, now: clock.now });
    const id = await submitted(sim);
    expect(await balance(sim)).toBe(80);
    const forced = await call(sim, `/__simulator/jobs/${id}/fail`, { method: 'POST', key: null });
    expect(forced).toMatchObject({ status: 200, body: { id, status: 'FAILED' } });
    expect(await balance(sim)).toBe(100);
  });
});

describe('simulator: idempotency', () => {
  const env = useSimulator();

  it('replays the original job for the same key and body, charging once', async () => {
    const sim = await env.start({ credits: 1000 });
    const key = newIdempotencyKey();
    const first = await submit(sim, video(), { 'idempotency-key': key });
    expect(first.status).toBe(202);
    // The same body with its keys in another order is the same request.
    const { seedanceParams, ...rest } = video();
    const reordered = { seedanceParams, ...rest };
    const second = await submit(sim, reordered, { 'idempotency-key': key });
    expect(second.status).toBe(202);
    expect(second.body.jobId).toBe(first.body.jobId);
    expect(sim.jobCount).toBe(1);
    expect(await balance(sim)).toBe(980);
  });

  it('answers the replay with the job status at the time', async () => {
    const sim = await env.start();
    const key = newIdempotencyKey();
    const first = await submit(sim, video(), { 'idempotency-key': key });
    sim.forceJob(first.body.jobId, 'COMPLETED');
    const replay = await submit(sim, video(), { 'idempotency-key': key });
    expect(replay.body).toEqual({ jobId: first.body.jobId, status: 'COMPLETED' });
  });

  it('answers 409 for a different body under the same key, creating nothing', async () => {
    const sim = await env.start({ credits: 1000 });
    const key = newIdempotencyKey();
    await submit(sim, video('first'), { 'idempotency-key': key });
    const conflict = await submit(sim, video('second'), { 'idempotency-key': key });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toMatch(/Idempotency-Key/);
    expect(sim.jobCount).toBe(1);
    expect(await balance(sim)).toBe(980);
  });

  it('makes a new job for another key, or the same key from another API key', async () => {
    const sim = await env.start();
    const key = newIdempotencyKey();
    const a = await submit(sim, video(), { 'idempotency-key': key });
    const b = await submit(sim, video(), { 'idempotency-key': newIdempotencyKey() });
    const c = await call<{ jobId: string }>(sim, '/v2/videos/generate', {
      body: video(),
      key: 'afk_other_team',
      headers: { 'idempotency-key': key },
    });
    expect(new Set([a.body.jobId, b.body.jobId, c.body.jobId]).size).toBe(3);
    expect(sim.jobCount).toBe(3);
  });

  it('refuses a key longer than 255 characters', async () => {
    const sim = await env.start();
    env.allowViolation(/Idempotency-Key: /);
    const answer = await submit(sim, video(), { 'idempotency-key': 'k'.repeat(256) });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ details: { 'Idempotency-Key': [expect.any(String)] } });
    expect(sim.jobCount).toBe(0);
  });
});

describe('simulator: jobs', () => {
  const env = useSimulator();

  it('goes QUEUED -> PROCESSING with progress rising -> COMPLETED on its clock', async () => {
    const clock = fakeClock();
    const created = clock.t;
    const sim = await env.start({ now: clock.now, queuedMs: 1_000, processingMs: 10_000 });
    const accepted = await submit(sim);
    expect(accepted.status).toBe(202);
    expect(Object.keys(accepted.body).sort()).toEqual(['jobId', 'status']);
    expect(accepted.body.jobId).toMatch(UUID);
    expect(accepted.body.status).toBe('QUEUED');
    const id = accepted.body.jobId;

    const queued = (await getJob(sim, id)).body;
    expect(queued).toMatchObject({ id, status: 'QUEUED', progress: 0, result: null, completedAt: null });
    expect(queued.createdAt).toBe(new Date(created).toISOString());

    const seen: number[] = [];
    for (const step of [1_000, 2_500, 2_500, 2_500]) {
      clock.advance(step);
      const job = (await getJob(sim, id)).body;
      expect(job.status).toBe('PROCESSING');
      expect(job.result).toBeNull();
      seen.push(job.progress ?? -1);
    }
    expect(seen[0]).toBe(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1] ?? 0);
    expect(seen.at(-1)).toBeLessThan(100);

    clock.advance(2_500);
    const done = (await getJob(sim, id)).body;
    expect(done).toMatchObject({ status: 'COMPLETED', progress: 100, error: null, creditCost: 20 });
    expect(done.completedAt).toBe(new Date(created + 11_000).toISOString());
    expect(done.result).toEqual({ videoUrl: `${sim.url}/files/${id}/video.mp4` });
  });

  it('answers 400 for a job id that is not a UUID, 404 for an unknown or foreign one', async () => {
    const sim = await env.start();
    const id = await submitted(sim);
    expect((await call(sim, '/v2/jobs/not-a-uuid')).status).toBe(400);
    const unknown = await call(sim, '/v2/jobs/3f0e4b1c-58e4-4d8a-9c1e-2b7f0a5d6c11');
    expect(unknown).toMatchObject({ status: 404, body: { error: expect.any(String) } });
    expect((await call(sim, `/v2/jobs/${id}`, { key: 'afk_someone_else' })).status).toBe(404);
    expect((await call(sim, `/v2/jobs/${id}`)).status).toBe(200);
  });

  it('pages GET /v2/jobs with a cursor, newest first, and filters by status and model', async () => {
    const clock = fakeClock();
    const sim = await env.start({ now: clock.now, queuedMs: 1_000, processingMs: 1_000 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await submitted(sim, video(`p${i}`)));
      clock.advance(1);
    }
    // A job of another key: never listed.
    const foreign = await call<{ jobId: string }>(sim, '/v2/videos/generate', {
      body: video('x'),
      key: 'afk_other_team',
    });
    expect(foreign.status).toBe(202);

    type Page = { jobs: { id: string; status: string }[]; nextCursor: string | null; hasMore: boolean };
    const pages: Page[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page: Answer<Page> = await call<Page>(sim, `/v2/jobs?limit=2${query}`);
      expect(page.status).toBe(200);
      pages.push(page.body);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(pages.map((p) => p.jobs.length)).toEqual([2, 2, 1]);
    expect(pages.map((p) => p.hasMore)).toEqual([true, true, false]);
    const listed = pages.flatMap((p) => p.jobs.map((j) => j.id));
    const mine = [...sim.jobs.values()].filter((j) => j.apiKey === TEST_KEY).map((j) => j.id);
    expect(listed).toHaveLength(5);
    expect(new Set(listed)).toEqual(new Set(mine));
    expect(listed).not.toContain(foreign.body.jobId);
    // Newest first: the five jobs were made one millisecond apart.
    expect(listed).toEqual([...ids].reverse());

    sim.forceJob(ids[1] as string, 'COMPLETED');
    sim.forceJob(ids[3] as string, 'COMPLETED');
    const completed = await call<Page>(sim, '/v2/jobs?status=COMPLETED');
    expect(completed.body.jobs.map((j) => j.id).sort()).toEqual([ids[1], ids[3]].sort());
    expect(completed.body.hasMore).toBe(false);
    expect((await call<Page>(sim, `/v2/jobs?model=${MODEL}`)).body.jobs).toHaveLength(5);
    expect((await call<Page>(sim, '/v2/jobs?model=kling-2.1')).body.jobs).toEqual([]);
  });

  it.each([
    'limit=0',
    'limit=101',
    'limit=abc',
    'limit=2.5',
    'status=DONE',
    'cursor=not-a-cursor',
    `cursor=${Buffer.from('{"a":1}').toString('base64url')}`,
  ])('answers 400 to GET /v2/jobs?%s', async (query) => {
    const sim = await env.start();
    const answer = await call(sim, `/v2/jobs?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toEqual(expect.any(String));
  });

  it('accepts limit 1 and 100', async () => {
    const sim = await env.start();
    expect((await call(sim, '/v2/jobs?limit=1')).status).toBe(200);
    expect((await call(sim, '/v2/jobs?limit=100')).status).toBe(200);
  });
});

describe('simulator: result files', () => {
  const env = useSimulator();

  it("serves a video of the requested length and shape, and a last frame of the job's own, when asked", async () => {
    const sim = await env.start();
    const id = await submitted(
      sim,
      video('x', { return_last_frame: true, duration: 6, aspect_ratio: '9:16' }),
    );
    expect((await fetch(`${sim.url}/files/${id}/video.mp4`)).status).toBe(404);
    sim.forceJob(id, 'COMPLETED');
    const job = (await getJob(sim, id)).body;
    const result = job.result as { videoUrl: string; lastFrameUrl: string };
    expect(Object.keys(result).sort()).toEqual(['lastFrameUrl', 'videoUrl']);

    const videoRes = await fetch(result.videoUrl);
    expect(videoRes.status).toBe(200);
    expect(videoRes.headers.get('content-type')).toBe('video/mp4');
    const media = await probeBytes('video', Buffer.from(await videoRes.arrayBuffer()));
    expect(media).toMatchObject({ codec: 'avc', seconds: 6 });
    expect((media.width ?? 0) / (media.height ?? 1)).toBeCloseTo(9 / 16, 2);

    const frameRes = await fetch(result.lastFrameUrl);
    expect(frameRes.status).toBe(200);
    expect(frameRes.headers.get('content-type')).toBe('image/png');
    const frame = PNG.sync.read(Buffer.from(await frameRes.arrayBuffer()));
    expect([frame.width, frame.height]).toEqual([360, 640]);

    // Another job's last frame differs, so that chained shots can be told apart.
    const other = await submitted(sim, video('y', { return_last_frame: true, aspect_ratio: '9:16' }));
    sim.forceJob(other, 'COMPLETED');
    const otherFrame = Buffer.from(
      await (await fetch(`${sim.url}/files/${other}/last-frame.png`)).arrayBuffer(),
    );
    expect(PNG.sync.read(otherFrame).data.equals(frame.data)).toBe(false);
  });

  it('refuses what the server refuses: the Seedance rules are in the wire model too', async () => {
    const sim = await env.start();
    env.allowViolation(/seedanceParams/);
    const answer = await call(sim, '/v2/videos/generate', {
      body: video('x', { end_image: 'https://example.com/end.png' }),
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toMatch(/end_image needs start_image/);
    expect(sim.jobCount).toBe(0);
  });

  it('gives no lastFrameUrl when it was not asked for', async () => {
    const sim = await env.start();
    const id = await submitted(sim);
    sim.forceJob(id, 'COMPLETED');
    expect((await getJob(sim, id)).body.result).toEqual({ videoUrl: `${sim.url}/files/${id}/video.mp4` });
  });

  it('serves nothing for a failed job', async () => {
    const sim = await env.start();
    const id = await submitted(sim);
    sim.forceJob(id, 'FAILED');
    expect((await fetch(`${sim.url}/files/${id}/video.mp4`)).status).toBe(404);
  });

  it("answers result as a bare URL string with resultShape: 'string'", async () => {
    const sim = await env.start({ resultShape: 'string' });
    const id = await submitted(sim, video('x', { return_last_frame: true }));
    sim.forceJob(id, 'COMPLETED');
    const result = (await getJob(sim, id)).body.result;
    expect(result).toBe(`${sim.url}/files/${id}/video.mp4`);
    expect((await fetch(result as string)).headers.get('content-type')).toBe('video/mp4');
  });
});

describe('simulator: uploads', () => {
  const env = useSimulator();

  async function upload(sim: Simulator, bytes: Uint8Array, declared: string, name = 'file.bin') {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: declared }), name);
    const res = await fetch(`${sim.url}/v2/uploads`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_KEY },
      body: form,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('measures what it is given, and refuses references that break the media rules the server checks', async () => {
    const sim = await env.start({ assetProcessingMs: 0 });
    env.allowViolation(/seedanceParams/);
    const small = new PNG({ width: 200, height: 200 });
    const uploaded = await upload(sim, PNG.sync.write(small), 'image/png', 'small.png');
    expect(uploaded.status).toBe(201);
    const asset = await call<{ assetId: string }>(sim, '/v2/assets/create', {
      body: { url: uploaded.body.url, type: 'image' },
    });
    const answer = await call(sim, '/v2/videos/generate', {
      body: video('x', { reference_image_urls: [`asset://${asset.body.assetId}`] }),
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      details: {
        'seedanceParams.reference_image_urls.0': [expect.stringMatching(/200x200 px is outside 300-6000/)],
      },
    });
    expect(sim.jobCount).toBe(0);
  });

  const padded = (head: number[] | string, size = 256) => {
    const bytes = Buffer.alloc(size, 0x20);
    (typeof head === 'string' ? Buffer.from(head, 'latin1') : Buffer.from(head)).copy(bytes);
    return bytes;
  };

  it.each([
    ['PNG', async () => readFile(packageAsset('sample-start.png')), 'text/plain', 'image', 'image/png'],
    [
      'JPEG',
      async () => padded([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46]),
      'image/png',
      'image',
      'image/jpeg',
    ],
    [
      'MP4',
      async () => readFile(packageAsset('sim-video-16x9.mp4')),
      'application/octet-stream',
      'video',
      'video/mp4',
    ],
    ['MP3 (ID3)', async () => padded('ID3\u0004\u0000\u0000'), 'image/jpeg', 'audio', 'audio/mpeg'],
    ['MP3 (frame sync)', async () => padded([0xff, 0xfb, 0x90, 0x64]), 'video/mp4', 'audio', 'audio/mpeg'],
    ['WAV', async () => padded('RIFF\u0024\u0000\u0000\u0000WAVEfmt '), 'video/mp4', 'audio', 'audio/wav'],
  ])(
    'sniffs %s from the bytes whatever the declared type',
    async (_label, bytesOf, declared, kind, contentType) => {
      const sim = await env.start();
      const bytes = await bytesOf();
      const answer = await upload(sim, bytes, declared);
      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({ kind, contentType, byteSize: bytes.length });
      expect(answer.body.id).toMatch(UUID);
      expect(answer.body.url).toEqual(expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/uploads\//));
      expect(Date.parse(answer.body.expiresAt as string)).toBeGreaterThan(Date.now());
    },
  );

  it('refuses text whatever it is declared as', async () => {
    const sim = await env.start();
    for (const [bytes, declared] of [
      [Buffer.from('hello, this is certainly not a picture\n'.repeat(4)), 'image/png'],
      [Buffer.from('tiny'), 'audio/wav'],
    ] as const) {
      const answer = await upload(sim, bytes, declared);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toBe('Unsupported file type');
    }
    expect(sim.uploads.size).toBe(0);
  });

  it('accepts an image of exactly 25 MiB and refuses one a byte over, naming the limit', async () => {
    const sim = await env.start();
    const png = await readFile(packageAsset('sample-start.png'));
    const limit = UPLOAD_LIMITS.image;
    expect(limit).toBe(25 * MiB);
    const atLimit = Buffer.alloc(limit);
    png.copy(atLimit);
    const ok = await upload(sim, atLimit, 'image/png', 'big.png');
    expect(ok.status).toBe(201);
    expect(ok.body.byteSize).toBe(limit);

    const over = Buffer.alloc(limit + 1);
    png.copy(over);
    const refused = await upload(sim, over, 'image/png', 'big.png');
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({
      error: 'File too large',
      details: { file: ['max 25.0 MB for image files'] },
    });
    expect(sim.uploads.size).toBe(1);
  });

  it('holds a video to the video limit, not the image one', async () => {
    const sim = await env.start();
    const mp4 = await readFile(packageAsset('sim-video-16x9.mp4'));
    const bytes = Buffer.alloc(UPLOAD_LIMITS.image + 1);
    mp4.copy(bytes);
    const answer = await upload(sim, bytes, 'video/mp4', 'big.mp4');
    expect(answer.status).toBe(201);
    expect(answer.body.kind).toBe('video');
  });

  it('refuses a body that is not multipart, and a multipart body without a file', async () => {
    const sim = await env.start();
    const notMultipart = await call(sim, '/v2/uploads', { body: { file: 'x' } });
    expect(notMultipart.status).toBe(400);
    const form = new FormData();
    form.append('note', 'no file here');
    const res = await fetch(`${sim.url}/v2/uploads`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_KEY },
      body: form,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ details: { file: [expect.any(String)] } });
  });
});

describe('simulator: assets', () => {
  const env = useSimulator();

  async function createAsset(sim: Simulator, url: string, type = 'image') {
    return call<{ assetId: string }>(sim, '/v2/assets/create', { body: { url, type } });
  }

  it('goes Processing -> Active, and only then can be used in a video', async () => {
    const clock = fakeClock();
    const sim = await env.start({ now: clock.now, assetProcessingMs: 1_000 });
    const created = await createAsset(sim, 'https://example.com/cat.png');
    expect(created.status).toBe(201);
    expect(Object.keys(created.body)).toEqual(['assetId']);
    const { assetId } = created.body;
    const processing = await call(sim, `/v2/assets/${assetId}`);
    expect(processing).toMatchObject({
      status: 200,
      body: { status: 'Processing', url: 'https://example.com/cat.png' },
    });

    const early = await submit(sim, video('x', { start_image: `asset://${assetId}` }));
    expect(early.status).toBe(400);
    expect(early.body).toMatchObject({ details: { 'seedanceParams.start_image': ['Asset is not active'] } });

    clock.advance(1_000);
    const active = await call(sim, `/v2/assets/${assetId}`);
    expect(active.body).toMatchObject({ status: 'Active', errorMsg: null });
    const used = await submit(sim, video('x', { reference_image_urls: [`asset://${assetId}`] }));
    expect(used.status).toBe(202);
  });

  it('fails an asset whose URL carries the failure marker', async () => {
    const clock = fakeClock();
    const sim = await env.start({ now: clock.now, assetProcessingMs: 1_000 });
    const { assetId } = (await createAsset(sim, `https://example.com/${FAILURE_MARKER}.png`)).body;
    expect((await call(sim, `/v2/assets/${assetId}`)).body.status).toBe('Processing');
    clock.advance(1_000);
    const failed = await call(sim, `/v2/assets/${assetId}`);
    expect(failed.body).toMatchObject({ status: 'Failed', errorMsg: expect.any(String) });
  });

  it('refuses an unknown asset in a video, and 404s an unknown or foreign asset', async () => {
    const sim = await env.start();
    const unknownRef = await submit(sim, video('x', { start_image: 'asset://no-such-asset' }));
    expect(unknownRef.status).toBe(400);
    expect(unknownRef.body).toMatchObject({ details: { 'seedanceParams.start_image': ['Unknown asset'] } });
    expect((await call(sim, '/v2/assets/no-such-asset')).status).toBe(404);
    const { assetId } = (await createAsset(sim, 'https://example.com/a.png')).body;
    expect((await call(sim, `/v2/assets/${assetId}`, { key: 'afk_other_team' })).status).toBe(404);
  });

  it('answers 400, not a server error, to an asset id that is not valid percent-encoding', async () => {
    const sim = await env.start();
    const answer = await call(sim, '/v2/assets/%E0%A4%A');
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: expect.any(String) });
  });

  it('refuses an asset body with a bad type or URL', async () => {
    const sim = await env.start();
    env.allowViolation(/POST \/v2\/assets\/create request: /);
    const badType = await createAsset(sim, 'https://example.com/a.png', 'document');
    expect(badType.status).toBe(400);
    expect(badType.body).toMatchObject({ details: { type: [expect.any(String)] } });
    const badUrl = await createAsset(sim, 'ftp://example.com/a.png');
    expect(badUrl.status).toBe(400);
    expect(badUrl.body).toMatchObject({ details: { url: [expect.any(String)] } });
  });
});

describe('simulator: faults', () => {
  const env = useSimulator();

  it('rate_limit: 429 with Retry-After before any work', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'submit', kind: 'rate_limit', retryAfterSeconds: 7 });
    const limited = await submit(sim);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(limited.body).toEqual({ error: expect.any(String) });
    expect(sim.jobCount).toBe(0);
    expect((await submit(sim)).status).toBe(202);
  });

  it('unavailable: 503 for as many requests as asked, then normal answers', async () => {
    const sim = await env.start();
    const id = await submitted(sim);
    sim.addFault({ route: 'job', kind: 'unavailable', times: 2 });
    expect((await getJob(sim, id)).status).toBe(503);
    expect((await getJob(sim, id)).status).toBe(503);
    expect((await getJob(sim, id)).status).toBe(200);
  });

  it('server_error: 500 with the error envelope', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'server_error' });
    const answer = await call(sim, '/v2/me');
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: expect.any(String) });
  });

  it('strikes only the route it was planned for', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'unavailable' });
    expect((await call(sim, '/v2/jobs')).status).toBe(200);
    expect((await call(sim, '/v2/me')).status).toBe(503);
  });

  it('reset_before: the connection drops and no job is created', async () => {
    const sim = await env.start({ credits: 1000 });
    sim.addFault({ route: 'submit', kind: 'reset_before' });
    const outcome = await raw(sim, 'POST', '/v2/videos/generate', video());
    expect(outcome).toMatchObject({ kind: 'error', code: 'ECONNRESET' });
    expect(sim.jobCount).toBe(0);
    expect(await balance(sim)).toBe(1000);
    await expect(fetch(`${sim.url}/v2/me`, { headers: { 'x-api-key': TEST_KEY } })).resolves.toHaveProperty(
      'status',
      200,
    );
  });

  it('reset_after: the connection drops with no answer, but the job was created and paid for', async () => {
    const sim = await env.start({ credits: 1000 });
    sim.addFault({ route: 'submit', kind: 'reset_after' });
    const outcome = await raw(sim, 'POST', '/v2/videos/generate', video());
    expect(outcome).toMatchObject({ kind: 'error', code: 'ECONNRESET' });
    expect(sim.jobCount).toBe(1);
    expect(await balance(sim)).toBe(980);
    // fetch sees the same thing as a network failure.
    sim.addFault({ route: 'submit', kind: 'reset_after' });
    await expect(submit(sim)).rejects.toThrow(/fetch failed/);
    expect(sim.jobCount).toBe(2);
  });

  it('slow: the job is created while the answer is held back', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'submit', kind: 'slow', delayMs: 600_000 });
    const abort = new AbortController();
    let settled = false;
    const pending = fetch(`${sim.url}/v2/videos/generate`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_KEY, 'content-type': 'application/json' },
      body: JSON.stringify(video()),
      signal: abort.signal,
    }).finally(() => {
      settled = true;
    });
    await waitUntil(() => sim.jobCount === 1);
    expect(settled).toBe(false);
    abort.abort();
    await expect(pending).rejects.toThrow(/abort/i);
  });

  it('slow: the answer comes once the delay is over', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'slow', delayMs: 1 });
    const answer = await call(sim, '/v2/me');
    expect(answer.status).toBe(200);
    expect(sim.exchangesFor('me')[0]?.fault).toBe('slow');
  });

  it('malformed: a 2xx whose body is not JSON', async () => {
    const sim = await env.start();
    const id = await submitted(sim);
    sim.addFault({ route: 'job', kind: 'malformed' });
    const res = await fetch(`${sim.url}/v2/jobs/${id}`, { headers: { 'x-api-key': TEST_KEY } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const text = await res.text();
    expect(text).toContain('<html>');
    expect(() => JSON.parse(text)).toThrow();
  });

  it('truncated: the headers promise more body than ever arrives', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'truncated' });
    const outcome = await raw(sim, 'GET', '/v2/me');
    expect(outcome.kind).toBe('response');
    if (outcome.kind !== 'response') return;
    expect(outcome.status).toBe(200);
    expect(outcome.complete).toBe(false);
    expect(Buffer.byteLength(outcome.body)).toBeLessThan(Number(outcome.headers['content-length']));
    expect(() => JSON.parse(outcome.body)).toThrow();
    // fetch sees a body that cannot be read.
    sim.addFault({ route: 'me', kind: 'truncated' });
    const res = await fetch(`${sim.url}/v2/me`, { headers: { 'x-api-key': TEST_KEY } });
    await expect(res.text()).rejects.toThrow();
  });

  it('stall: the headers and the first half of the body come, the rest only after the delay', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'stall', delayMs: 600_000 });
    const abort = new AbortController();
    const res = await fetch(`${sim.url}/v2/me`, { headers: { 'x-api-key': TEST_KEY }, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(first?.value?.length).toBeLessThan(Number(res.headers.get('content-length')));
    let ended = false;
    const rest = reader?.read().then(() => {
      ended = true;
    });
    expect((await call(sim, '/v2/me')).status).toBe(200);
    expect(ended).toBe(false);
    abort.abort();
    await expect(rest).rejects.toThrow(/abort/i);
    sim.addFault({ route: 'me', kind: 'stall', delayMs: 1 });
    expect((await call(sim, '/v2/me')).status).toBe(200);
  });

  it('tamper: the work is done and the answer carries the fields asked for', async () => {
    const sim = await env.start();
    const id = await submitted(sim);
    env.allowViolation(/creditCost/);
    sim.addFault({
      route: 'job',
      kind: 'tamper',
      times: 2,
      fields: { creditCost: 'lots', result: 'file:///x' },
    });
    const tampered = await getJob(sim, id);
    expect(tampered.body).toMatchObject({ id, creditCost: 'lots', result: 'file:///x', model: MODEL });
    await getJob(sim, id);
    expect((await getJob(sim, id)).body).toMatchObject({ id, creditCost: 20 });
  });

  describe('on result files', () => {
    async function completedVideo(sim: Simulator): Promise<string> {
      const id = await submitted(sim);
      sim.forceJob(id, 'COMPLETED');
      return `${sim.url}/files/${id}/video.mp4`;
    }

    it('unavailable and reset_before strike a download too', async () => {
      const sim = await env.start();
      const url = await completedVideo(sim);
      sim.addFault({ route: 'file', kind: 'unavailable' });
      expect((await fetch(url)).status).toBe(503);
      sim.addFault({ route: 'file', kind: 'reset_before' });
      expect(await raw(sim, 'GET', new URL(url).pathname)).toMatchObject({
        kind: 'error',
        code: 'ECONNRESET',
      });
      expect((await fetch(url)).status).toBe(200);
    });

    it('truncated: a download cut off before its content-length', async () => {
      const sim = await env.start();
      const url = await completedVideo(sim);
      const full = Buffer.from(await (await fetch(url)).arrayBuffer());
      sim.addFault({ route: 'file', kind: 'truncated' });
      const outcome = await raw(sim, 'GET', new URL(url).pathname);
      expect(outcome).toMatchObject({ kind: 'response', status: 200, complete: false });
      if (outcome.kind !== 'response') return;
      expect(Number(outcome.headers['content-length'])).toBe(full.length);
      expect(outcome.headers['content-type']).toBe('video/mp4');
      expect(Buffer.byteLength(outcome.body, 'latin1')).toBeLessThan(full.length);
    });

    it('reset_after: the connection drops with no answer', async () => {
      const sim = await env.start();
      const url = await completedVideo(sim);
      sim.addFault({ route: 'file', kind: 'reset_after' });
      expect(await raw(sim, 'GET', new URL(url).pathname)).toMatchObject({
        kind: 'error',
        code: 'ECONNRESET',
      });
    });

    it('malformed: a 200 whose body is not the file', async () => {
      const sim = await env.start();
      const url = await completedVideo(sim);
      sim.addFault({ route: 'file', kind: 'malformed' });
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.subarray(4, 8).toString('latin1')).not.toBe('ftyp');
      expect(bytes.toString('latin1')).toContain('<html>');
    });

    it('slow: the download is held back', async () => {
      const sim = await env.start();
      const url = await completedVideo(sim);
      sim.addFault({ route: 'file', kind: 'slow', delayMs: 600_000 });
      const abort = new AbortController();
      let settled = false;
      const pending = fetch(url, { signal: abort.signal }).finally(() => {
        settled = true;
      });
      await waitUntil(() => sim.exchangesFor('file').some((e) => e.fault === 'slow'));
      // Give a held-back answer every chance to arrive if it were not held back: a round trip on another connection.
      expect((await call(sim, '/v2/me')).status).toBe(200);
      expect(settled).toBe(false);
      abort.abort();
      await expect(pending).rejects.toThrow(/abort/i);
    });
  });

  it('a 429 then success, through the real client honouring Retry-After', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'rate_limit', retryAfterSeconds: 3 });
    const sleeps = { waits: [] as number[] };
    const me = await clientFor(sim, {}, sleeps).me();
    expect(me.team?.credits).toBe(sim.credits);
    expect(sleeps.waits).toEqual([3_000]);
    expect(sim.hits.get('me')).toBe(2);
  });
});

describe('simulator: control API', () => {
  const env = useSimulator();
  const control = (sim: Simulator, path: string, options: CallOptions = {}) =>
    call(sim, `/__simulator${path}`, { key: null, ...options });

  it('plans faults over HTTP, counts them, and clears them', async () => {
    const sim = await env.start();
    const planned = await control(sim, '/faults', { body: { route: 'me', kind: 'unavailable', times: 2 } });
    expect(planned).toMatchObject({ status: 201, body: { pending: 2 } });
    expect((await call(sim, '/v2/me')).status).toBe(503);
    await control(sim, '/faults', { body: { route: 'jobs', kind: 'rate_limit', retryAfterSeconds: 2 } });
    const state = await control(sim, '/state');
    expect(state.body).toMatchObject({ faultsInjected: { unavailable: 1 }, hits: { me: 1 } });
    const cleared = await control(sim, '/faults', { method: 'DELETE' });
    expect(cleared).toMatchObject({ status: 200, body: { pending: 0 } });
    expect((await call(sim, '/v2/me')).status).toBe(200);
    expect((await call(sim, '/v2/jobs')).status).toBe(200);
  });

  it('refuses an invalid fault with details', async () => {
    const sim = await env.start();
    const answer = await control(sim, '/faults', { body: { route: 'me', kind: 'earthquake' } });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ details: { kind: [expect.any(String)] } });
    expect(sim.faults.remaining).toBe(0);
  });

  it('forces a job to PROCESSING, COMPLETED or FAILED, and 404s an unknown one', async () => {
    const clock = fakeClock();
    const sim = await env.start({ now: clock.now, queuedMs: 1_000, processingMs: 1_000 });
    const id = await submitted(sim);
    expect((await getJob(sim, id)).body.status).toBe('QUEUED');
    expect((await control(sim, `/jobs/${id}/process`, { method: 'POST' })).body).toEqual({
      id,
      status: 'PROCESSING',
    });
    expect((await getJob(sim, id)).body).toMatchObject({ status: 'PROCESSING', progress: 50 });
    await control(sim, `/jobs/${id}/complete`, { method: 'POST' });
    const done = (await getJob(sim, id)).body;
    expect(done).toMatchObject({ status: 'COMPLETED', progress: 100 });
    expect(done.completedAt).toBe(new Date(clock.t).toISOString());
    const other = await submitted(sim);
    await control(sim, `/jobs/${other}/fail`, { method: 'POST' });
    expect((await getJob(sim, other)).body.status).toBe('FAILED');
    const unknown = await control(sim, '/jobs/3f0e4b1c-58e4-4d8a-9c1e-2b7f0a5d6c11/complete', {
      method: 'POST',
    });
    expect(unknown.status).toBe(404);
  });

  it('reports and patches the state', async () => {
    const sim = await env.start({ credits: 500 });
    await submitted(sim);
    const state = await control(sim, '/state');
    expect(state.body).toMatchObject({ credits: 480, jobs: 1, assets: 0, uploads: 0, hits: { submit: 1 } });
    const patched = await control(sim, '/state', {
      method: 'PATCH',
      body: { credits: 7, processingMs: 100 },
    });
    expect(patched.body).toMatchObject({ credits: 7, processingMs: 100 });
    expect(await balance(sim)).toBe(7);
    expect(sim.processingMs).toBe(100);
    const bad = await control(sim, '/state', { method: 'PATCH', body: { credits: -1 } });
    expect(bad.status).toBe(400);
    expect((await control(sim, '/nothing-here')).status).toBe(404);
  });
});
