/**
 * The built binary in HTTP mode (`seedance-mcp --http --port 0`), driven by the SDK's own StreamableHTTPClientTransport
 * and by raw HTTP where a client would not misbehave on purpose: the tools end to end, progress, tokens, the
 * DNS-rebinding checks, the body limit, the per-member bounds and a drain on SIGTERM.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, realpath, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { useHttpBinary } from './helpers/http.js';
import { structuredOf, textOf } from './helpers/mcp.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';

const TOKEN = 'tok_shared_0123456789abcdef';
const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw POST with any headers (Host included, which fetch would not let a test forge). */
function post(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('seedance-mcp --http', () => {
  const start = useHttpBinary();

  it('serves every tool end to end with progress, each result naming the member', async () => {
    const server = await start({ SEEDANCE_HTTP_TOKEN: TOKEN, SEEDANCE_SIMULATED_JOB_SECONDS: '2' }, [
      '--simulate',
    ]);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const health = await fetch(`${server.base}/healthz`);
    expect(health.status).toBe(200);
    const healthBody = (await health.json()) as Record<string, unknown>;
    expect(healthBody).toMatchObject({ status: 'ok', ledger: { state: 'ok' }, simulated: true });
    expect(JSON.stringify(healthBody)).not.toContain(server.dir);
    expect(JSON.stringify(healthBody)).not.toContain(TOKEN);

    const client = await server.client(TOKEN);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'estimate_cost',
      'generate_video',
      'get_video',
      'list_videos',
      'upload_asset',
    ]);
    const estimate = (await client.callTool({
      name: 'estimate_cost',
      arguments: { duration: 5, resolution: '720p' },
    })) as CallToolResult;
    expect(estimate.isError).toBeFalsy();
    expect(JSON.stringify(estimate.structuredContent)).toContain('"credits":20');
    expect(estimate._meta).toEqual({ 'seedance-mcp/member': 'shared' });

    const progress: Progress[] = [];
    const made = (await client.callTool(
      {
        name: 'generate_video',
        arguments: { prompt: 'a red kite over the sea', duration: 4, resolution: '480p' },
      },
      undefined,
      { onprogress: (p) => progress.push(p), timeout: 60_000 },
    )) as CallToolResult;
    expect(made.isError, textOf(made)).toBeFalsy();
    const video = structuredOf<VideoOutput>(made);
    expect(video.status).toBe('completed');
    expect(video.simulated).toBe(true);
    // Fetched from the configured Apiframe origin (the simulator on loopback): allowed, where a member's URL is not.
    expect(video.video?.bytes).toBeGreaterThan(0);
    // The file is served by the server itself over a signed link, whole or by range, beside the Apiframe URL.
    const link = (video.video as { download_url?: string } | null)?.download_url;
    expect(link).toMatch(new RegExp(`^${server.base}/files/.+\\.mp4\\?exp=\\d+&sig=`));
    expect(video.remote_url).not.toBeNull();
    const whole = Buffer.from(await (await fetch(link ?? '')).arrayBuffer());
    expect(createHash('sha256').update(whole).digest('hex')).toBe(video.video?.sha256);
    const part = await fetch(link ?? '', { headers: { range: 'bytes=0-7' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(whole.subarray(0, 8));
    expect((await fetch(`${link}x`)).status).toBe(403);
    // The result links the video as an MCP resource, readable over this same connection (resources/read).
    expect(
      made.content.some(
        (b) => b.type === 'resource_link' && b.uri === `seedance://jobs/${video.job_id}/video`,
      ),
    ).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p, i) => i === 0 || p.progress > (progress[i - 1]?.progress ?? 0))).toBe(true);

    const got = (await client.callTool({
      name: 'get_video',
      arguments: { job_id: video.job_id },
    })) as CallToolResult;
    expect(structuredOf<VideoOutput>(got).job_id).toBe(video.job_id);
    const listed = (await client.callTool({ name: 'list_videos', arguments: {} })) as CallToolResult;
    expect(JSON.stringify(listed.structuredContent)).toContain(video.job_id ?? 'no job id');

    // A remote member cannot name this machine's files (existing or not), and is not told to edit an "env" block.
    await writeFile(join(server.dir, 'photo.png'), 'not read');
    const upload = (await client.callTool({
      name: 'upload_asset',
      arguments: { source: join(server.dir, 'photo.png') },
    })) as CallToolResult;
    expect(upload.isError).toBe(true);
    expect(textOf(upload)).toContain('path_not_allowed');
    expect(textOf(upload)).toContain('http(s) URL');
    expect(textOf(upload)).not.toMatch(/env"? block|SEEDANCE_ALLOWED_DIRS/);

    // Server-side request forgery: the cloud metadata address and loopback are never fetched for a member.
    for (const source of ['http://169.254.169.254/latest/meta-data/', 'http://localhost:9/photo.png']) {
      const refused = (await client.callTool({
        name: 'upload_asset',
        arguments: { source },
      })) as CallToolResult;
      expect(refused.isError, source).toBe(true);
      expect(textOf(refused)).toContain('url_not_allowed');
    }
    expect(server.stderr.join('')).not.toContain(TOKEN);
  });

  it("keeps two members apart: their own budgets, their own job lists, no attaching to the other's job", async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'seedance-members-')));
    const tokens = { alice: 'tok_alice_0123456789abcdef', bob: 'tok_bob_0123456789abcdef' };
    await writeFile(
      join(dir, 'members.json'),
      JSON.stringify([
        { name: 'alice', token_sha256: sha256(tokens.alice), budget_credits: 20, budget_period: 'day' },
        { name: 'bob', token_sha256: sha256(tokens.bob), budget_credits: 100 },
      ]),
    );
    const server = await start(
      {
        SEEDANCE_HTTP_TOKENS_FILE: join(dir, 'members.json'),
        SEEDANCE_BUDGET_CREDITS: '40',
        SEEDANCE_SIMULATED_JOB_SECONDS: '0',
      },
      ['--simulate'],
      dir,
    );
    const alice = await server.client(tokens.alice);
    const bob = await server.client(tokens.bob);
    const make = async (client: typeof alice, resolution: string) =>
      (await client.callTool(
        { name: 'generate_video', arguments: { prompt: 'two kites', duration: 4, resolution } },
        undefined,
        { timeout: 60_000 },
      )) as CallToolResult;

    const first = await make(alice, '480p');
    expect(first.isError, textOf(first)).toBeFalsy();
    expect(first._meta).toEqual({ 'seedance-mcp/member': 'alice' });
    const aliceVideo = structuredOf<VideoOutput>(first);
    expect(aliceVideo.budget).toMatchObject({ limit: 20, spent: 8 });
    // The same prompt from bob is bob's own new job, not alice's.
    const second = await make(bob, '480p');
    const bobVideo = structuredOf<VideoOutput>(second);
    expect(bobVideo.submission).toBe('submitted');
    expect(bobVideo.job_id).not.toBe(aliceVideo.job_id);
    expect(bobVideo.budget).toMatchObject({ limit: 100, spent: 8 });

    const listOf = async (client: typeof alice) =>
      JSON.stringify(
        ((await client.callTool({ name: 'list_videos', arguments: {} })) as CallToolResult).structuredContent,
      );
    expect(await listOf(alice)).toContain(aliceVideo.job_id ?? '?');
    expect(await listOf(alice)).not.toContain(bobVideo.job_id ?? '?');
    expect(await listOf(bob)).not.toContain(aliceVideo.job_id ?? '?');
    const peek = (await bob.callTool({
      name: 'get_video',
      arguments: { job_id: aliceVideo.job_id, wait_seconds: 0 },
    })) as CallToolResult;
    expect(peek.isError).toBe(true);
    expect(textOf(peek)).toContain('not_found');

    // alice's own cap (8 + 16 > 20) refuses her; bob's 40 fits his (8 + 40 <= 100), not the server's (16 + 40 > 40).
    const aliceOver = await make(alice, '720p');
    expect(aliceOver.isError).toBe(true);
    expect(textOf(aliceOver)).toContain('of the 20 credit budget');
    const bobOver = await make(bob, '1080p');
    expect(bobOver.isError).toBe(true);
    expect(textOf(bobOver)).toContain('of the 40 credit budget');
    expect(textOf(bobOver)).not.toContain('SEEDANCE_BUDGET_CREDITS');
  });

  it('refuses a missing or wrong token with 401 and WWW-Authenticate, and logs no token', async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'seedance-members-')));
    const tokens = join(dir, 'members.json');
    const good = 'tok_ci_member_0123456789';
    await writeFile(
      tokens,
      JSON.stringify([
        {
          name: 'ci',
          token_sha256: sha256(good),
          budget_credits: 100,
          budget_period: 'day',
        },
      ]),
    );
    const server = await start({ SEEDANCE_HTTP_TOKENS_FILE: tokens }, ['--simulate'], dir);
    const body = JSON.stringify(INITIALIZE);
    const missing = await post(server.url, body);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="seedance-mcp"');
    expect(JSON.parse(missing.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } });
    const wrongToken = 'tok_wrong_guess_987654321';
    const wrong = await post(server.url, body, { authorization: `Bearer ${wrongToken}` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toContain('error="invalid_token"');
    const right = await post(server.url, body, { authorization: `Bearer ${good}` });
    expect(right.status).toBe(200);
    // /healthz needs no token.
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
    // With no server-wide cap, the member's own budget is the one estimate_cost weighs.
    const ci = await server.client(good);
    const priced = (await ci.callTool({
      name: 'estimate_cost',
      arguments: { duration: 5 },
    })) as CallToolResult;
    expect(priced.structuredContent).toMatchObject({ budget: { limit: 100, period: 'day', spent: 0 } });
    const log = server.stderr.join('');
    expect(log).toContain('bad credentials');
    expect(log).not.toContain(wrongToken);
    expect(log).not.toContain(good);
  });

  it('re-reads the members file when it changes: a new member gets in, a removed one is refused', async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'seedance-members-')));
    const file = join(dir, 'members.json');
    const [first, second] = ['tok_first_member_0123456789', 'tok_second_member_0123456789'];
    await writeFile(file, JSON.stringify([{ name: 'first', token_sha256: sha256(first) }]));
    const server = await start({ SEEDANCE_HTTP_TOKENS_FILE: file }, ['--simulate'], dir);
    const body = JSON.stringify(INITIALIZE);
    expect((await post(server.url, body, { authorization: `Bearer ${second}` })).status).toBe(401);
    const reread = new Promise<void>((resolve) =>
      server.proc.stderr?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('members file re-read')) resolve();
      }),
    );
    await writeFile(file, JSON.stringify([{ name: 'second', token_sha256: sha256(second) }]));
    await reread;
    expect((await post(server.url, body, { authorization: `Bearer ${second}` })).status).toBe(200);
    expect((await post(server.url, body, { authorization: `Bearer ${first}` })).status).toBe(401);

    // A budget given in the file applies to the member's session already open, from its next request.
    const client = await server.client(second);
    const budgetOf = async () =>
      ((await client.callTool({ name: 'estimate_cost', arguments: { duration: 5 } })) as CallToolResult)
        .structuredContent?.budget;
    expect(await budgetOf()).toBeNull();
    const rereadAgain = new Promise<void>((resolve) =>
      server.proc.stderr?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('members file re-read')) resolve();
      }),
    );
    await writeFile(
      file,
      JSON.stringify([
        { name: 'second', token_sha256: sha256(second), budget_credits: 7, budget_period: 'month' },
      ]),
    );
    await rereadAgain;
    expect(await budgetOf()).toMatchObject({ limit: 7, period: 'month' });
  });

  it('refuses a spoofed Host and a foreign Origin (DNS rebinding), and accepts loopback ones', async () => {
    const server = await start({}, ['--simulate']);
    const port = new URL(server.url).port;
    const body = JSON.stringify(INITIALIZE);
    const spoofed = await post(server.url, body, { host: `evil.example.com:${port}` });
    expect(spoofed.status).toBe(403);
    expect(JSON.parse(spoofed.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    const foreign = await post(server.url, body, { origin: 'http://evil.example.com' });
    expect(foreign.status).toBe(403);
    const local = await post(server.url, body, {
      host: `localhost:${port}`,
      origin: `http://localhost:${port}`,
    });
    expect(local.status).toBe(200);
  });

  it('answers a 5 MB body with a JSON-RPC error, and stays up', async () => {
    const server = await start({}, ['--simulate']);
    const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
    const answer = await post(server.url, big);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
    const client = await server.client();
    expect((await client.listTools()).tools).toHaveLength(5);
  });

  it('refuses to listen beyond loopback without a token', async () => {
    await expect(start({}, ['--simulate', '--host', '0.0.0.0'])).rejects.toThrow(
      /refusing to listen on 0\.0\.0\.0/,
    );
  });

  it('closes an idle session (its next request is 404) and keeps sessions in use open', async () => {
    const server = await start(
      {
        // 1.8 s: the sweep runs every quarter of it.
        SEEDANCE_HTTP_IDLE_MINUTES: '0.03',
        SEEDANCE_SIMULATED_JOB_SECONDS: '120',
        SEEDANCE_LOG_LEVEL: 'debug',
      },
      ['--simulate'],
    );
    const opened = await post(server.url, JSON.stringify(INITIALIZE));
    expect(opened.status).toBe(200);
    const idleId = opened.headers['mcp-session-id'];
    if (typeof idleId !== 'string') throw new Error('no session id');
    const ping = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });
    const sessionHeaders = { 'mcp-session-id': idleId, 'mcp-protocol-version': '2025-11-25' };
    expect((await post(server.url, ping(2), sessionHeaders)).status).toBe(200);

    // One session busy with a call in flight, one calling now and then, shorter apart than the idle time.
    const busy = await server.client();
    const waiting = new Promise<void>((resolve) => {
      busy
        .callTool(
          { name: 'generate_video', arguments: { prompt: 'a slow tide', duration: 4, wait_seconds: 60 } },
          undefined,
          { onprogress: () => resolve(), timeout: 60_000 },
        )
        // Still waiting when the test ends and closes the client.
        .catch(() => {});
    });
    await waiting;
    const chatty = await server.client();
    const idleClosed = server.logged(/session closed.*why=idle/);
    let closed = false;
    void idleClosed.then(() => {
      closed = true;
    });
    while (!closed) {
      await chatty.ping();
      await new Promise((resolve) => setTimeout(resolve, 150));
    }

    const afterIdle = await post(server.url, ping(3), sessionHeaders);
    expect(afterIdle.status).toBe(404);
    expect(afterIdle.body).toContain('Session not found');
    await expect(chatty.ping()).resolves.toEqual({});
    expect((await busy.listTools()).tools.length).toBeGreaterThan(0);
    expect(server.stderr.join('').match(/session closed.*why=idle/g)).toHaveLength(1);
  });
});

describe('seedance-mcp --http against an Apiframe-compatible server', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 60_000, assetProcessingMs: 0 });
  const start = useHttpBinary();

  it('bounds the requests in flight per member with 429 and Retry-After', async () => {
    const sim = await env.start();
    const server = await start({
      APIFRAME_API_KEY: TEST_KEY,
      APIFRAME_BASE_URL: sim.url,
      SEEDANCE_HTTP_MAX_IN_FLIGHT: '1',
    });
    const client = await server.client();
    const progressed = new Promise<void>((resolve) => {
      client
        .callTool(
          { name: 'generate_video', arguments: { prompt: 'a slow sunrise', duration: 4, wait_seconds: 20 } },
          undefined,
          { onprogress: () => resolve(), timeout: 60_000 },
        )
        // Still waiting when the test ends and closes the client.
        .catch(() => {});
    });
    await progressed;
    const second = await post(server.url, JSON.stringify(INITIALIZE));
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
  });

  it('drains on SIGTERM: the call in flight hands back its job_id, and the job goes on in the ledger', async () => {
    const sim = await env.start();
    const environment = { APIFRAME_API_KEY: TEST_KEY, APIFRAME_BASE_URL: sim.url };
    const server = await start(environment);
    const client = await server.client();
    let signalled = false;
    const result = (await client.callTool(
      {
        name: 'generate_video',
        arguments: { prompt: 'a lighthouse at dusk', duration: 4, wait_seconds: 120 },
      },
      undefined,
      {
        timeout: 60_000,
        onprogress: () => {
          if (signalled) return;
          signalled = true;
          server.proc.kill('SIGTERM');
        },
      },
    )) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('shutting_down');
    const jobId = /job_id "?([0-9a-f-]{36})/.exec(textOf(result))?.[1];
    expect(jobId, textOf(result)).toBeDefined();
    expect(await server.exited).toBe(0);
    expect(sim.jobCount).toBe(1);

    const again = await start(environment, [], server.dir);
    const found = (await (
      await again.client()
    ).callTool({
      name: 'get_video',
      arguments: { job_id: jobId, wait_seconds: 0 },
    })) as CallToolResult;
    expect(found.isError, textOf(found)).toBeFalsy();
    expect(structuredOf<VideoOutput>(found)).toMatchObject({ job_id: jobId, status: 'processing' });
    expect(structuredOf<VideoOutput>(found).cost.estimated_credits).not.toBeNull();
  });
});
