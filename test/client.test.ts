import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newIdempotencyKey } from '../src/apiframe/client.js';
import { JobAcceptedSchema } from '../src/apiframe/schemas.js';
import {
  AuthenticationError,
  CancelledError,
  ConflictError,
  FileRejectedError,
  InsufficientCreditsError,
  MissingApiKeyError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  RateLimitError,
  ServerError,
  TimeoutError,
  UpstreamValidationError,
} from '../src/core/errors.js';
import { packageAsset, packageRoot } from '../src/core/package-files.js';
import { AgentSeedanceParams, wireBody } from '../src/domain/params.js';
import { openLocalMedia } from '../src/inputs/local-files.js';
import { clientFor, type Sleeps, TEST_KEY, useSimulator } from './helpers/simulator.js';

const body = (prompt = 'a red kite over a green hill', params: Record<string, unknown> = {}) =>
  wireBody({ prompt, params: AgentSeedanceParams.parse(params) as never });

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('Apiframe client against the simulator', () => {
  const env = useSimulator();

  it('submits, polls to COMPLETED, and normalises the result', async () => {
    const sim = await env.start();
    const client = clientFor(sim);
    const accepted = await client.submitVideo(body('x', { return_last_frame: true }), {
      idempotencyKey: newIdempotencyKey(),
    });
    expect(accepted.status).toBe('QUEUED');
    const job = await until(
      () => client.getJob(accepted.jobId),
      (j) => j.status === 'COMPLETED',
    );
    expect(job.result?.videoUrl).toBe(`${sim.url}/files/${job.id}/video.mp4`);
    expect(job.result?.lastFrameUrl).toBe(`${sim.url}/files/${job.id}/last-frame.png`);
    expect(job.creditCost).toBe(32);
    expect(job.progress).toBe(100);
  });

  it('accepts a bare URL string as the result (older docs)', async () => {
    const sim = await env.start({ resultShape: 'string' });
    const client = clientFor(sim);
    const { jobId } = await client.submitVideo(body(), { idempotencyKey: newIdempotencyKey() });
    sim.forceJob(jobId, 'COMPLETED');
    const job = await client.getJob(jobId);
    expect(job.result).toEqual({
      videoUrl: `${sim.url}/files/${jobId}/video.mp4`,
      lastFrameUrl: undefined,
      raw: job.result?.raw,
    });
    expect(typeof job.result?.raw).toBe('string');
  });

  it('lists jobs with cursor paging', async () => {
    const sim = await env.start();
    const client = clientFor(sim);
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++)
      ids.add((await client.submitVideo(body(`p${i}`), { idempotencyKey: newIdempotencyKey() })).jobId);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await client.listJobs({ limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.jobs.map((j) => j.id));
      if (!page.hasMore || page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(new Set(seen)).toEqual(ids);
    expect(seen).toHaveLength(5);
  });

  it('reads the balance from /v2/me', async () => {
    const sim = await env.start({ credits: 1234 });
    const me = await clientFor(sim).me();
    expect(me.team?.credits).toBe(1234);
  });

  it('uploads a file streamed as multipart, then registers it as an asset that becomes Active', async () => {
    const sim = await env.start();
    const client = clientFor(sim);
    const path = packageAsset('sample-start.png');
    const file = await openLocalMedia(path, { allowedDirs: [packageRoot()] });
    const upload = await client
      .uploadFile(file, { idempotencyKey: newIdempotencyKey() })
      .finally(() => file.handle.close());
    const bytes = await readFile(path);
    expect(upload).toMatchObject({ kind: 'image', contentType: 'image/png', byteSize: bytes.length });
    const stored = sim.uploads.get(upload.id);
    expect(stored?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const assetId = await client.createAsset(
      { url: upload.url, type: 'image' },
      { idempotencyKey: newIdempotencyKey() },
    );
    const asset = await until(
      () => client.getAsset(assetId),
      (a) => a.status !== 'Processing',
    );
    expect(asset.status).toBe('Active');
  });

  it('refuses a file whose bytes are no accepted type, before anything is sent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'seedance-client-'));
    const path = join(dir, 'photo.png');
    await writeFile(path, 'this is text, not a PNG');
    await expect(openLocalMedia(path, { allowedDirs: [dir] })).rejects.toBeInstanceOf(FileRejectedError);
  });

  it('needs a key for every operation and says where to set it', async () => {
    const sim = await env.start();
    const client = clientFor(sim, { apiKey: undefined });
    await expect(client.me()).rejects.toBeInstanceOf(MissingApiKeyError);
    await expect(client.me()).rejects.toThrow(/APIFRAME_API_KEY/);
    expect(sim.exchanges).toHaveLength(0);
  });
});

describe('error classes from the status-to-class factory', () => {
  const env = useSimulator();

  it('400 is a validation error with details per JSON path', async () => {
    const sim = await env.start();
    env.allowViolation(/^POST \/v2\/videos\/generate request: .*"duration":3/);
    const raw = { model: 'seedance-2', prompt: 'x', seedanceParams: { duration: 3 } };
    const error = await clientFor(sim)
      .submitVideo(raw as never, { idempotencyKey: newIdempotencyKey() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamValidationError);
    expect((error as UpstreamValidationError).fieldErrors).toHaveProperty(['seedanceParams.duration']);
  });

  it('401 for a missing-shape key and 403 for an inactive one, never echoing the key', async () => {
    const sim = await env.start();
    const invalid = await clientFor(sim, { apiKey: 'not-a-key-secret-123' })
      .me()
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(AuthenticationError);
    expect((invalid as Error).message).toContain('Invalid API key');
    expect((invalid as Error).message).not.toContain('not-a-key-secret-123');
    const inactive = await clientFor(sim, { apiKey: 'afk_inactive' })
      .me()
      .catch((e: unknown) => e);
    expect(inactive).toBeInstanceOf(AuthenticationError);
    expect((inactive as AuthenticationError).status).toBe(403);
  });

  it('402 carries the credits required and available', async () => {
    const sim = await env.start({ credits: 10 });
    const error = await clientFor(sim)
      .submitVideo(body(), { idempotencyKey: newIdempotencyKey() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientCreditsError);
    expect(error).toMatchObject({ creditsRequired: 32, creditsAvailable: 10 });
  });

  it('404 for an unknown job', async () => {
    const sim = await env.start();
    await expect(clientFor(sim).getJob('00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('409 when an idempotency key is replayed with a different body; the original body replays the job', async () => {
    const sim = await env.start();
    const client = clientFor(sim);
    const key = newIdempotencyKey();
    const first = await client.submitVideo(body('one'), { idempotencyKey: key });
    const again = await client.submitVideo(body('one'), { idempotencyKey: key });
    expect(again.jobId).toBe(first.jobId);
    await expect(client.submitVideo(body('two'), { idempotencyKey: key })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(sim.jobCount).toBe(1);
  });
});

describe('retries, timeouts and cancellation', () => {
  const env = useSimulator();

  it('waits as long as Retry-After asks after a 429, then succeeds', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'rate_limit', retryAfterSeconds: 2 });
    const sleeps: Sleeps = { waits: [] };
    const me = await clientFor(sim, {}, sleeps).me();
    expect(me.team?.credits).toBeGreaterThan(0);
    expect(sleeps.waits).toEqual([2000]);
    expect(sim.hits.get('me')).toBe(2);
  });

  it('gives a 429 back when Retry-After is longer than it may wait', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'rate_limit', retryAfterSeconds: 120 });
    const error = await clientFor(sim)
      .me()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryAfterMs).toBe(120_000);
    expect(sim.hits.get('me')).toBe(1);
  });

  it('retries a 503 burst on a GET with capped full-jitter backoff', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'unavailable', times: 3 });
    const sleeps: Sleeps = { waits: [] };
    await clientFor(sim, { retryBaseMs: 100, retryCapMs: 250, random: () => 0.999 }, sleeps).me();
    expect(sim.hits.get('me')).toBe(4);
    expect(sleeps.waits).toEqual([99, 199, 249]);
  });

  it('gives up after the bounded number of attempts', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'server_error', times: 10 });
    await expect(clientFor(sim, { maxRetries: 2 }).me()).rejects.toBeInstanceOf(ServerError);
    expect(sim.hits.get('me')).toBe(3);
  });

  it('never retries a POST without an idempotency key', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'submit', kind: 'unavailable' });
    const client = clientFor(sim);
    await expect(
      client.http.request({
        method: 'POST',
        path: '/v2/videos/generate',
        json: body(),
        schema: JobAcceptedSchema,
      }),
    ).rejects.toBeInstanceOf(ServerError);
    expect(sim.hits.get('submit')).toBe(1);
  });

  it('retries a keyed POST whose answer was lost with the same key, and one job exists', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'submit', kind: 'reset_after' });
    const key = newIdempotencyKey();
    const accepted = await clientFor(sim).submitVideo(body(), { idempotencyKey: key });
    const submits = sim.exchangesFor('submit');
    expect(submits).toHaveLength(2);
    expect(submits.map((e) => e.idempotencyKey)).toEqual([key, key]);
    expect(sim.jobCount).toBe(1);
    expect(sim.jobs.has(accepted.jobId)).toBe(true);
  });

  it('reports a reset as a network error that may have acted, once retries are spent', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'submit', kind: 'reset_after', times: 5 });
    const error = await clientFor(sim, { maxRetries: 1 })
      .submitVideo(body(), { idempotencyKey: newIdempotencyKey() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).outcomeUnknown).toBe(true);
    expect(sim.jobCount).toBe(1);
  });

  it('times out an attempt whose answer is slower than the timeout', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'job', kind: 'slow', delayMs: 10_000, times: 5 });
    const client = clientFor(sim, { timeoutMs: 50, maxRetries: 1 });
    const { jobId } = await client.submitVideo(body(), { idempotencyKey: newIdempotencyKey() });
    await expect(client.getJob(jobId)).rejects.toBeInstanceOf(TimeoutError);
    expect(sim.hits.get('job')).toBe(2);
  });

  it('treats a body that is not JSON as a protocol error, and retries it on a GET', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'malformed' });
    sim.addFault({ route: 'me', kind: 'truncated' });
    await clientFor(sim).me();
    expect(sim.hits.get('me')).toBe(3);
    sim.addFault({ route: 'me', kind: 'malformed', times: 9 });
    await expect(clientFor(sim, { maxRetries: 0 }).me()).rejects.toBeInstanceOf(ProtocolError);
  });

  it('stops when the caller aborts, without retrying', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'slow', delayMs: 10_000 });
    const controller = new AbortController();
    const pending = clientFor(sim).me({ signal: controller.signal });
    await until(
      async () => sim.hits.get('me') ?? 0,
      (n) => n === 1,
    );
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    expect(sim.hits.get('me')).toBe(1);
  });

  it('never puts the API key in an error message', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'me', kind: 'server_error', times: 9 });
    const error = await clientFor(sim, { maxRetries: 0 })
      .me()
      .catch((e: unknown) => e);
    expect(
      JSON.stringify({ message: (error as Error).message, details: (error as ServerError).details }),
    ).not.toContain(TEST_KEY);
  });
});
