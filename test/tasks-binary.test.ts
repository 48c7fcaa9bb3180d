/**
 * Tasks and resources from the built binary, as clients start it: a task made by one process is answered by the
 * next one after the first was killed (two processes, one SEEDANCE_STATE_DIR), and the MCP Inspector's own CLI lists
 * the tools and calls one in simulate mode.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  type CallToolResult,
  CallToolResultSchema,
  CreateTaskResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { structuredOf } from './helpers/mcp.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';
import { useTempDirs } from './helpers/temp.js';

const tempDir = useTempDirs();

const BIN = new URL('../dist/cli.js', import.meta.url).pathname;
const run = promisify(execFile);

const open: Client[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((client) => client.close()));
});

async function start(
  env: Record<string, string>,
): Promise<{ client: Client; transport: StdioClientTransport }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN],
    env: { PATH: process.env.PATH ?? '', ...env },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'tasks-binary-test', version: '1.0.0' });
  await client.connect(transport);
  open.push(client);
  return { client, transport };
}

describe('tasks across processes', () => {
  const env = useSimulator({ queuedMs: 100, processingMs: 1_500, assetProcessingMs: 0 });

  it('answers tasks/get and tasks/result in a second process for a task of a first one that was killed', async () => {
    const sim = await env.start();
    const dir = await tempDir('seedance-tasks-restart-');
    const processEnv = {
      HOME: dir,
      APIFRAME_API_KEY: TEST_KEY,
      APIFRAME_BASE_URL: sim.url,
      SEEDANCE_OUTPUT_DIR: join(dir, 'out'),
      SEEDANCE_STATE_DIR: join(dir, 'state'),
    };
    const first = await start(processEnv);
    const created = await first.client.request(
      {
        method: 'tools/call',
        params: { name: 'generate_video', arguments: { prompt: 'A tram at night', duration: 4 }, task: {} },
      },
      CreateTaskResultSchema,
    );
    expect(created.task.status).toBe('working');
    const taskId = created.task.taskId;

    // Killed mid-job: no shutdown, nothing flushed but what was already durable.
    const pid = first.transport.pid;
    expect(pid).toBeGreaterThan(0);
    const exited = new Promise<void>((resolve) => {
      first.transport.onclose = () => resolve();
    });
    process.kill(pid ?? 0, 'SIGKILL');
    await exited;
    open.splice(open.indexOf(first.client), 1);

    const second = await start(processEnv);
    const task = await second.client.experimental.tasks.getTask(taskId);
    expect(task.taskId).toBe(taskId);
    expect(['working', 'completed']).toContain(task.status);
    const result = (await second.client.experimental.tasks.getTaskResult(
      taskId,
      CallToolResultSchema,
    )) as CallToolResult;
    const out = structuredOf<VideoOutput>(result);
    expect(out).toMatchObject({ status: 'completed', submission: 'submitted', prompt: 'A tram at night' });
    expect(
      (await readFile(out.video?.path ?? '')).equals(
        Buffer.from(
          await (
            await fetch(out.remote_url ?? '', { headers: { authorization: `Bearer ${TEST_KEY}` } })
          ).arrayBuffer(),
        ),
      ),
    ).toBe(true);
    expect(await second.client.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'completed' });
    // Paid once, whatever the restart.
    expect(sim.exchangesFor('submit')).toHaveLength(1);
    // The saved video is a resource of the second process too.
    const read = await second.client.readResource({ uri: `seedance://jobs/${out.job_id}/video` });
    expect(read.contents[0]).toMatchObject({ mimeType: 'video/mp4' });
  });
});

describe('the MCP Inspector CLI', () => {
  const inspector = async (dir: string, ...args: string[]) => {
    const { stdout } = await run(
      'npx',
      [
        '--no-install',
        '@modelcontextprotocol/inspector',
        '--cli',
        '-e',
        `SEEDANCE_OUTPUT_DIR=${join(dir, 'out')}`,
        '-e',
        'SEEDANCE_SIMULATED_JOB_SECONDS=1',
        process.execPath,
        BIN,
        '--simulate',
        ...args,
      ],
      // HOME: the Inspector keeps its catalog there.
      { env: { ...process.env, HOME: dir }, timeout: 60_000 },
    );
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  it('lists the tools and calls generate_video against the binary in simulate mode', async () => {
    const dir = await tempDir('seedance-inspector-');
    const listed = await inspector(dir, '--method', 'tools/list');
    const tools = listed.tools as { name: string; execution?: { taskSupport?: string } }[];
    expect(tools.map((t) => t.name)).toEqual([
      'generate_video',
      'estimate_cost',
      'upload_asset',
      'get_video',
      'list_videos',
    ]);
    expect(tools[0]?.execution).toEqual({ taskSupport: 'optional' });
    const called = (await inspector(
      dir,
      '--method',
      'tools/call',
      '--tool-name',
      'generate_video',
      '--tool-arg',
      'prompt=A kite over dunes',
      '--tool-arg',
      'duration=4',
    )) as CallToolResult;
    const out = called.structuredContent as VideoOutput;
    expect(out).toMatchObject({ status: 'completed', simulated: true });
    expect(
      called.content.some(
        (c) => c.type === 'resource_link' && c.uri === `seedance://jobs/${out.job_id}/video`,
      ),
    ).toBe(true);
  });
});
