/** The built binary over stdio, driven by the SDK's own Client, as Claude Desktop or an IDE starts it. */
import { execFile } from 'node:child_process';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { packageAsset } from '../src/core/package-files.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { structuredOf, textOf } from './helpers/mcp.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';
import { useTempDirs } from './helpers/temp.js';

const BIN = new URL('../dist/cli.js', import.meta.url).pathname;
const run = promisify(execFile);

const tempDir = useTempDirs();
const clients: { client: Client; stderr: string[] }[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map(({ client }) => client.close()));
});

async function connect(env: Record<string, string>, args: string[] = [], home?: string) {
  const dir = home ?? (await tempDir('seedance-stdio-'));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, ...args],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      SEEDANCE_OUTPUT_DIR: join(dir, 'out'),
      SEEDANCE_STATE_DIR: join(dir, 'state'),
      SEEDANCE_ALLOWED_DIRS: dir,
      ...env,
    },
    stderr: 'pipe',
  });
  const stderr: string[] = [];
  transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const protocolErrors: Error[] = [];
  const client = new Client({ name: 'stdio-test', version: '1.0.0' });
  client.onerror = (error) => protocolErrors.push(error);
  await client.connect(transport);
  clients.push({ client, stderr });
  return { client, dir, stderr, protocolErrors };
}

describe('the built binary over stdio', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 0, assetProcessingMs: 0 });

  it('serves every tool end to end against an Apiframe-compatible server, with only JSON-RPC on stdout', async () => {
    const sim = await env.start();
    const { client, dir, stderr, protocolErrors } = await connect({
      APIFRAME_API_KEY: TEST_KEY,
      APIFRAME_BASE_URL: sim.url,
      SEEDANCE_BUDGET_CREDITS: '500',
    });
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(5);
    const estimate = (await client.callTool({
      name: 'estimate_cost',
      arguments: { duration: 5 },
    })) as CallToolResult;
    expect(structuredOf(estimate)).toMatchObject({ total_credits: 20, budget: { remaining: 500 } });
    const generated = (await client.callTool({
      name: 'generate_video',
      arguments: {
        prompt: 'a paper boat on a stream',
        duration: 5,
        start_image: packageAsset('sample-start.png'),
      },
    })) as CallToolResult;
    // The sample image lies outside the allowed folder: refused, nothing sent.
    expect(generated.isError).toBe(true);
    expect(textOf(generated)).toMatch(/path_not_allowed/);
    const ok = (await client.callTool({
      name: 'generate_video',
      arguments: { prompt: 'a paper boat on a stream', duration: 5 },
    })) as CallToolResult;
    const out = structuredOf<VideoOutput>(ok);
    expect(out.status).toBe('completed');
    expect(out.video?.path.startsWith(join(dir, 'out'))).toBe(true);
    expect((await readFile(out.video?.path ?? '')).subarray(4, 8).toString()).toBe('ftyp');
    expect(out.budget).toMatchObject({ spent: 20, remaining: 480 });
    const submits = sim.exchangesFor('submit');
    expect(submits).toHaveLength(1);
    expect(submits[0]?.idempotencyKey).toBeTruthy();
    expect(submits[0]?.requestBody).toMatchObject({ model: 'seedance-2', seedanceParams: { duration: 5 } });
    expect(protocolErrors).toEqual([]);
    expect(stderr.join('')).not.toContain(TEST_KEY);
  });

  it('--simulate: every tool works with no key and no network, and says so', async () => {
    const { client } = await connect({ SEEDANCE_SIMULATED_JOB_SECONDS: '0' }, ['--simulate']);
    const result = (await client.callTool({
      name: 'generate_video',
      arguments: { prompt: 'offline test', duration: 4 },
    })) as CallToolResult;
    const out = structuredOf<VideoOutput>(result);
    expect(out).toMatchObject({ status: 'completed', simulated: true });
    expect(textOf(result)).toContain('[simulated]');
  });

  it('--simulate keeps its world in SEEDANCE_STATE_DIR, apart from the real ledger: a restart finds its jobs', async () => {
    const first = await connect({ SEEDANCE_SIMULATED_JOB_SECONDS: '0' }, ['--simulate']);
    const made = structuredOf<VideoOutput>(
      (await first.client.callTool({
        name: 'generate_video',
        arguments: { prompt: 'before the restart', duration: 4 },
      })) as CallToolResult,
    );
    expect(made.status).toBe('completed');
    await first.client.close();
    await access(join(first.dir, 'state', 'simulated', 'simulator.json'));
    expect(await readdir(join(first.dir, 'state'))).toEqual(['simulated']);

    const second = await connect({ SEEDANCE_SIMULATED_JOB_SECONDS: '0' }, ['--simulate'], first.dir);
    const found = (await second.client.callTool({
      name: 'get_video',
      arguments: { job_id: made.job_id },
    })) as CallToolResult;
    expect(found.isError, textOf(found)).toBeFalsy();
    expect(structuredOf<VideoOutput>(found)).toMatchObject({
      job_id: made.job_id,
      status: 'completed',
      video: { path: made.video?.path },
    });
  });

  it('without a key, starts anyway: estimate_cost works and the other tools name APIFRAME_API_KEY', async () => {
    const { client } = await connect({});
    const estimate = (await client.callTool({
      name: 'estimate_cost',
      arguments: { duration: 4 },
    })) as CallToolResult;
    expect(estimate.isError).toBeFalsy();
    const generate = (await client.callTool({
      name: 'generate_video',
      arguments: { prompt: 'x' },
    })) as CallToolResult;
    expect(generate.isError).toBe(true);
    expect(textOf(generate)).toMatch(/APIFRAME_API_KEY/);
  });

  it('a malformed setting is a clear start-up error naming the variable', async () => {
    const failure = await run(process.execPath, [BIN], {
      env: { PATH: process.env.PATH ?? '', SEEDANCE_BUDGET_CREDITS: 'lots' },
    }).catch((error: { code: number; stderr: string; stdout: string }) => error);
    expect(failure).toMatchObject({ code: 2, stdout: '' });
    expect((failure as { stderr: string }).stderr).toMatch(/SEEDANCE_BUDGET_CREDITS: must be a whole number/);
  });
});
