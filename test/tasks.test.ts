import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import {
  type CallToolResult,
  CallToolResultSchema,
  CreateTaskResultSchema,
  McpError,
  type Task,
  TaskStatusNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { App } from '../src/app/app.js';
import { startApp } from '../src/app/app.js';
import { loadConfig } from '../src/app/config.js';
import type { Session } from '../src/app/session.js';
import { buildServer } from '../src/mcp/server.js';
import { TASK_TTL_MS } from '../src/mcp/tasks.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { FAST_SERVICES, structuredOf, textOf, useHarness } from './helpers/mcp.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';
import { useTempDirs } from './helpers/temp.js';

const tempDir = useTempDirs();

const start = useHarness();
const PROMPT = 'A paper boat on a rainy street, macro';

/** Calls a tool as a task and returns every message of the SDK client's stream. */
async function streamAsTask(client: Client, name: string, args: Record<string, unknown>, ttl?: number) {
  const messages = [];
  for await (const message of client.experimental.tasks.callToolStream(
    { name, arguments: args },
    CallToolResultSchema,
    { task: ttl === undefined ? {} : { ttl } },
  )) {
    messages.push(message);
  }
  return messages;
}

describe('MCP tasks', () => {
  it('declares tasks, and task support on the two tools that wait for a job', async () => {
    const h = await start();
    expect(h.client.getServerCapabilities()?.tasks).toEqual({
      list: {},
      cancel: {},
      requests: { tools: { call: {} } },
    });
    const { tools } = await h.client.listTools();
    const supported = tools.filter((t) => t.execution?.taskSupport === 'optional').map((t) => t.name);
    expect(supported).toEqual(['generate_video', 'get_video']);
    // A tool without task support refuses a task instead of running.
    const refused = await h.client
      .request(
        { method: 'tools/call', params: { name: 'estimate_cost', arguments: { duration: 5 }, task: {} } },
        CallToolResultSchema,
      )
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).code).toBe(-32601);
  });

  it('answers at once with a task, reports progress, and tasks/result is the generate_video result', async () => {
    const h = await start({ sim: { queuedMs: 50, processingMs: 400 } });
    const messages = await streamAsTask(h.client, 'generate_video', { prompt: PROMPT, duration: 5 });
    const created = messages[0];
    expect(created?.type).toBe('taskCreated');
    const task = created?.type === 'taskCreated' ? created.task : undefined;
    expect(task).toMatchObject({
      status: 'working',
      ttl: TASK_TTL_MS,
      pollInterval: FAST_SERVICES.poll.capMs,
    });
    const statuses = messages.flatMap((m) => (m.type === 'taskStatus' ? [m.task] : []));
    expect(
      statuses.some((t) => t.status === 'working' && /PROCESSING|QUEUED/i.test(t.statusMessage ?? '')),
    ).toBe(true);
    expect(statuses.at(-1)).toMatchObject({
      status: 'completed',
      statusMessage: expect.stringMatching(/^Video saved: /),
    });
    const last = messages.at(-1);
    expect(last?.type).toBe('result');
    const result = (last?.type === 'result' ? last.result : undefined) as CallToolResult;
    const out = structuredOf<VideoOutput>(result);
    expect(out).toMatchObject({ status: 'completed', submission: 'submitted', prompt: PROMPT });
    expect(out.cost).toMatchObject({ charged_credits: out.cost.estimated_credits, new_charge: true });
    expect(textOf(result)).toMatch(new RegExp(`^Job ${out.job_id}: completed`));
    expect(result.content.map((c) => c.type)).toEqual(['text', 'resource_link']);
    // One job, one POST: the task is the job, not a second submission.
    expect(h.sim.exchangesFor('submit')).toHaveLength(1);

    // The same result again from tasks/result, and the task in tasks/get.
    const again = await h.client.experimental.tasks.getTaskResult(task?.taskId ?? '', CallToolResultSchema);
    expect(again.structuredContent).toMatchObject({ job_id: out.job_id, status: 'completed' });
    expect(await h.client.experimental.tasks.getTask(task?.taskId ?? '')).toMatchObject({
      status: 'completed',
    });
  });

  it('keeps the TTL the client asks for when shorter than a day, and a day otherwise', async () => {
    const h = await start();
    const short = await streamAsTask(h.client, 'generate_video', { prompt: PROMPT }, 60_000);
    expect(short[0]).toMatchObject({ type: 'taskCreated', task: { ttl: 60_000 } });
    const long = await streamAsTask(h.client, 'generate_video', { prompt: `${PROMPT} 2` }, 7 * TASK_TTL_MS);
    expect(long[0]).toMatchObject({ type: 'taskCreated', task: { ttl: TASK_TTL_MS } });
  });

  it('ends a refused call as a failed task whose result is the error', async () => {
    const h = await start();
    const messages = await streamAsTask(h.client, 'generate_video', { prompt: PROMPT, max_credits: 1 });
    const task = messages[0]?.type === 'taskCreated' ? messages[0].task : undefined;
    expect(task).toMatchObject({
      status: 'failed',
      statusMessage: expect.stringContaining('over_max_credits'),
    });
    const result = await h.client.experimental.tasks.getTaskResult(task?.taskId ?? '', CallToolResultSchema);
    expect(result.isError).toBe(true);
    expect(textOf(result as CallToolResult)).toContain('over max_credits 1');
    expect(h.sim.exchangesFor('submit')).toHaveLength(0);
  });

  it('runs get_video as a task on a job made without one', async () => {
    const h = await start({ sim: { queuedMs: 20, processingMs: 200 } });
    const first = structuredOf<VideoOutput>(
      await h.call('generate_video', { prompt: PROMPT, wait_seconds: 0 }),
    );
    expect(first.status).not.toBe('completed');
    const messages = await streamAsTask(h.client, 'get_video', { job_id: first.job_id });
    const last = messages.at(-1);
    const out = structuredOf<VideoOutput>((last?.type === 'result' ? last.result : {}) as CallToolResult);
    expect(out).toMatchObject({ job_id: first.job_id, status: 'completed', submission: 'existing' });
    expect(out.video?.path).toBeTruthy();
  });

  it('cancels a task: the task ends, the job is still settled and saved, and the answer says so', async () => {
    const h = await start({ sim: { queuedMs: 50, processingMs: 500 } });
    const created = await h.client.request(
      { method: 'tools/call', params: { name: 'generate_video', arguments: { prompt: PROMPT }, task: {} } },
      CreateTaskResultSchema,
    );
    const taskId = created.task.taskId;
    const cancelled = await h.client.experimental.tasks.cancelTask(taskId);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.statusMessage).toMatch(
      /cannot be cancelled at Apiframe: it keeps rendering, is charged/,
    );
    // Cancelling twice is refused: the task has ended.
    await expect(h.client.experimental.tasks.cancelTask(taskId)).rejects.toThrow(
      /terminal status: cancelled/,
    );
    expect(await h.client.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'cancelled' });
    // The paid job goes on and is saved: get_video waits for it.
    const jobId = (await h.services.ledger.list({ limit: 1 })).records[0]?.jobId;
    const out = structuredOf<VideoOutput>(await h.call('get_video', { job_id: jobId }));
    expect(out).toMatchObject({ status: 'completed', submission: 'existing' });
    expect(out.video?.path).toBeTruthy();
    const result = await h.client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expect((result.structuredContent as VideoOutput).warnings.join(' ')).toMatch(
      /cannot be cancelled at Apiframe/,
    );
  });

  it('sends notifications/tasks/status when a task ends with its job, and when it is cancelled', async () => {
    const h = await start({ sim: { queuedMs: 20, processingMs: 200 } });
    const announced: Task[] = [];
    const arrivals: ((task: Task) => void)[] = [];
    h.client.setNotificationHandler(TaskStatusNotificationSchema, (notification) => {
      announced.push(notification.params);
      for (const arrived of arrivals.splice(0)) arrived(notification.params);
    });
    const next = () => new Promise<Task>((resolve) => arrivals.push(resolve));

    const ending = next();
    const created = await h.client.request(
      { method: 'tools/call', params: { name: 'generate_video', arguments: { prompt: PROMPT }, task: {} } },
      CreateTaskResultSchema,
    );
    expect(created.task.status).toBe('working');
    const ended = await ending;
    expect(ended).toMatchObject({
      taskId: created.task.taskId,
      status: 'completed',
      statusMessage: expect.stringMatching(/^Video saved: /),
    });
    // What was announced is what tasks/get says.
    expect(await h.client.experimental.tasks.getTask(created.task.taskId)).toMatchObject({
      status: 'completed',
      statusMessage: ended.statusMessage,
    });

    const cancelling = next();
    const other = await h.client.request(
      {
        method: 'tools/call',
        params: { name: 'generate_video', arguments: { prompt: `${PROMPT} 2` }, task: {} },
      },
      CreateTaskResultSchema,
    );
    await h.client.experimental.tasks.cancelTask(other.task.taskId);
    expect(await cancelling).toMatchObject({ taskId: other.task.taskId, status: 'cancelled' });
    // The cancelled task's job still settles and is saved, and the task is not announced again.
    const jobId = (await h.services.ledger.list({ limit: 1 })).records[0]?.jobId;
    expect(structuredOf<VideoOutput>(await h.call('get_video', { job_id: jobId })).status).toBe('completed');
    expect(announced.map((t) => [t.taskId, t.status])).toEqual([
      [created.task.taskId, 'completed'],
      [other.task.taskId, 'cancelled'],
    ]);
  });

  it('lists the caller tasks newest first, page by page', async () => {
    const h = await start();
    const ids: string[] = [];
    for (let i = 0; i < 53; i++) {
      // Refused calls make tasks quickly (no job): enough of them for two pages.
      const m = await streamAsTask(h.client, 'generate_video', { prompt: `${PROMPT} ${i}`, max_credits: 1 });
      ids.push(m[0]?.type === 'taskCreated' ? m[0].task.taskId : '');
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await h.client.experimental.tasks.listTasks(cursor);
      seen.push(...page.tasks.map((t) => t.taskId));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(seen).toEqual([...ids].reverse());
    await expect(h.client.experimental.tasks.listTasks('nonsense')).rejects.toThrow(/Invalid cursor/);
    await expect(h.client.experimental.tasks.getTask('no-such-task')).rejects.toThrow(/not found/i);
  });
});

describe('MCP tasks of members', () => {
  const env = useSimulator();

  async function connect(app: App, session: Session): Promise<Client> {
    const server = buildServer(app, session);
    const client = new Client({ name: 'member', version: '1.0.0' });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await Promise.all([server.connect(b), client.connect(a)]);
    return client;
  }

  it('shows a member only their own tasks, across their sessions', async () => {
    const sim = await env.start();
    const root = await tempDir('seedance-tasks-members-');
    const config = loadConfig(
      { platform: process.platform, home: root, env: {} },
      { apiKey: TEST_KEY, baseUrl: sim.url, outputDir: join(root, 'out'), stateDir: join(root, 'state') },
    );
    const app = await startApp(config, FAST_SERVICES);
    const member = (name: string): Session => ({
      transport: 'http',
      member: { name, budgetLimit: null, period: 'total' },
      allowedDirs: [],
      useClientRoots: false,
    });
    try {
      const ann = await connect(app, member('ann'));
      const annAgain = await connect(app, member('ann'));
      const bob = await connect(app, member('bob'));
      const messages = await streamAsTask(ann, 'generate_video', { prompt: PROMPT });
      const taskId = messages[0]?.type === 'taskCreated' ? messages[0].task.taskId : '';
      expect(messages.at(-1)?.type).toBe('result');
      expect(await annAgain.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'completed' });
      expect((await annAgain.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toEqual([taskId]);
      await expect(bob.experimental.tasks.getTask(taskId)).rejects.toThrow(/not found/i);
      await expect(bob.experimental.tasks.getTaskResult(taskId)).rejects.toThrow(/not found/i);
      await expect(bob.experimental.tasks.cancelTask(taskId)).rejects.toThrow(/not found/i);
      expect((await bob.experimental.tasks.listTasks()).tasks).toEqual([]);
      await Promise.all([ann.close(), annAgain.close(), bob.close()]);
    } finally {
      await app.close();
    }
  });
});
