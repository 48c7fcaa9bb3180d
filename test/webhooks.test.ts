/**
 * Webhooks in HTTP mode, the built binary against the simulator: a signed webhook makes the job polled at once (one
 * GET decides), bad, missing and replayed signatures and unknown jobs are refused without a GET, and a webhook that
 * never comes still leaves polling to finish the job.
 */
import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { webhookSignature } from '../src/simulator/webhooks.js';
import { useHttpBinary } from './helpers/http.js';
import { structuredOf, textOf } from './helpers/mcp.js';
import { freePort } from './helpers/ports.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';

describe('webhooks (seedance-mcp --http with SEEDANCE_PUBLIC_URL)', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 300, assetProcessingMs: 0 });
  const start = useHttpBinary();

  async function serve(simOptions: Parameters<typeof env.start>[0] = {}) {
    const sim = await env.start(simOptions);
    const port = await freePort();
    const server = await start(
      {
        APIFRAME_API_KEY: TEST_KEY,
        APIFRAME_BASE_URL: sim.url,
        SEEDANCE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      },
      ['--port', String(port)],
    );
    const hook = `${server.base}/webhooks/apiframe`;
    const jobGets = (jobId: string) =>
      sim.exchanges.filter((e) => e.route === 'job' && e.path.includes(jobId)).length;
    return { sim, server, hook, jobGets };
  }

  const post = (url: string, body: string, signature?: string) =>
    fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(signature === undefined ? {} : { 'x-webhook-signature': signature }),
      },
      body,
    });

  it('submits with webhookUrl; the signed completion webhook is answered 202 and the job ends', async () => {
    const { sim, server, hook } = await serve();
    const client = await server.client();
    const made = (await client.callTool(
      { name: 'generate_video', arguments: { prompt: 'a heron lands', duration: 4, wait_seconds: 30 } },
      undefined,
      { timeout: 60_000 },
    )) as CallToolResult;
    expect(made.isError, textOf(made)).toBeFalsy();
    const video = structuredOf<VideoOutput>(made);
    expect(video.status).toBe('completed');
    const submitted = sim.exchangesFor('submit')[0]?.requestBody as Record<string, unknown>;
    expect(submitted).toMatchObject({ webhookUrl: hook, webhookEvents: ['progress', 'completed', 'failed'] });
    expect(sim.webhooks.deliveries).toContainEqual({ jobId: video.job_id, event: 'completed', status: 202 });
  });

  it('refuses unsigned, badly signed, replayed and unknown-job webhooks; a good one costs exactly one GET', async () => {
    const { server, hook, jobGets } = await serve({ processingMs: 600_000, webhooks: 'never' });
    const client = await server.client();
    const made = (await client.callTool({
      name: 'generate_video',
      arguments: { prompt: 'a slow glacier', duration: 4, wait_seconds: 0 },
    })) as CallToolResult;
    const jobId = structuredOf<VideoOutput>(made).job_id ?? '';
    expect(jobId).not.toBe('');
    const body = JSON.stringify({ event: 'progress', jobId, status: 'PROCESSING', progress: 10 });

    const before = jobGets(jobId);
    expect((await post(hook, body)).status).toBe(401);
    expect((await post(hook, body, webhookSignature('afk_someone_else_key', body))).status).toBe(401);
    expect((await post(hook, body, 'sha256=nothex')).status).toBe(401);
    expect(jobGets(jobId)).toBe(before);

    const good = await post(hook, body, webhookSignature(TEST_KEY, body));
    expect(good.status).toBe(202);
    // The webhook is a hint: one GET of the job confirmed it before the answer.
    expect(jobGets(jobId)).toBe(before + 1);
    expect((await post(hook, body, webhookSignature(TEST_KEY, body))).status).toBe(409);
    expect(jobGets(jobId)).toBe(before + 1);

    const stranger = randomUUID();
    const unknown = JSON.stringify({ event: 'completed', jobId: stranger, status: 'COMPLETED' });
    expect((await post(hook, unknown, webhookSignature(TEST_KEY, unknown))).status).toBe(404);
    expect(jobGets(stranger)).toBe(0);
    expect(server.stderr.join('')).not.toContain(TEST_KEY);
  });

  it('a webhook that never comes: polling, now a safety net, still finishes the job', async () => {
    const { sim, server } = await serve({ webhooks: 'never' });
    const client = await server.client();
    const made = (await client.callTool(
      { name: 'generate_video', arguments: { prompt: 'rain on a tin roof', duration: 4, wait_seconds: 30 } },
      undefined,
      { timeout: 60_000 },
    )) as CallToolResult;
    expect(structuredOf<VideoOutput>(made).status).toBe('completed');
    expect(sim.webhooks.deliveries).toEqual([]);
  });
});
