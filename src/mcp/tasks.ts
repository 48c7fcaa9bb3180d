/**
 * MCP Tasks (spec 2025-11-25) over the ledger. A task-augmented generate_video or get_video does the call's quick
 * part (validation, price, budget, submission) at once and answers with a task that stands for the job; the job is
 * then followed as any other, settled and saved. The task's status, progress and result are read from the job's
 * ledger record whenever they are asked for, so any process sharing the ledger (every host, with PostgreSQL), and the
 * next one after a restart, answers for it. The ledger's task records add only whose task it is, its lifetime, and
 * whether it was cancelled.
 *
 * The SDK's Protocol serves tasks/get, tasks/result, tasks/list and tasks/cancel from this TaskStore; its cancel
 * never reaches the tool, so cancelling is decided here: the task ends, the job (which Apiframe cannot cancel) is
 * still followed to the end, settled and saved, and the answer says so.
 */
import { randomUUID } from 'node:crypto';
import type {
  CreateTaskOptions,
  TaskStore,
} from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import {
  type CallToolResult,
  type CreateTaskResult,
  ErrorCode,
  McpError,
  type Result,
  type Task,
} from '@modelcontextprotocol/sdk/types.js';
import { TERMINAL_STATUSES } from '../apiframe/schemas.js';
import type { Services } from '../app/services.js';
import type { Session } from '../app/session.js';
import { InvalidCursorError } from '../core/errors.js';
import { log } from '../core/log.js';
import { DEFAULT_POLL } from '../jobs/feed/schedule.js';
import type { JobRecord, TaskPage, TaskRecord } from '../ledger/types.js';
import { type VideoOutput, videoStatus } from './tools/shapes.js';
import { videoAnswer } from './tools/video-result.js';

/** How long a task and its result are kept, unless the client asks for less. */
export const TASK_TTL_MS = 24 * 60 * 60 * 1000;
const TASKS_PER_PAGE = 50;

/**
 * The jobs this process follows for tasks, and the save failures it saw (per process: one poller per job however
 * many sessions ask about it).
 */
class TaskFollower {
  private readonly following = new Set<string>();
  private readonly saveErrors = new Map<string, string>();
  /** Called once the job is settled and saved (or its saving failed): the tasks waiting to say so. */
  private readonly settled = new Map<string, Set<() => void>>();

  constructor(private readonly services: Services) {}

  /**
   * Follows the job until it ends, then settles and saves it (once across processes, by the ledger's claim), and
   * then calls `onSettled`.
   */
  follow(jobId: string, onSettled?: () => void): void {
    if (onSettled !== undefined) {
      const waiting = this.settled.get(jobId) ?? new Set();
      waiting.add(onSettled);
      this.settled.set(jobId, waiting);
    }
    if (this.following.has(jobId)) return;
    this.following.add(jobId);
    const { jobs } = this.services;
    const unsubscribe = jobs.feed.watch(jobId, {
      update: (job) => {
        if (!TERMINAL_STATUSES.has(job.status)) return;
        queueMicrotask(unsubscribe);
        jobs
          .finish(job)
          .then((finished) => {
            const error = finished.downloadError;
            if (error !== undefined) this.saveErrors.set(jobId, `${error.message} ${error.recovery}`);
          })
          .catch((error: unknown) => log.warn('finishing a task job failed', { jobId, error: String(error) }))
          .finally(() => {
            this.following.delete(jobId);
            const waiting = this.settled.get(jobId);
            this.settled.delete(jobId);
            for (const settled of waiting ?? []) settled();
          });
      },
      error: (error) => {
        // Asked about again, the task follows it again.
        queueMicrotask(unsubscribe);
        this.following.delete(jobId);
        // Nobody is told: the task's status is still right whenever it is asked for.
        this.settled.delete(jobId);
        log.warn('stopped following a task job', { jobId, code: error.code });
      },
    });
  }

  saveError(jobId: string): string | undefined {
    return this.saveErrors.get(jobId);
  }
}

/** Keyed by the process's job service: every session's services (a member's among them) share it. */
const followers = new WeakMap<Services['jobs'], TaskFollower>();
function followerOf(services: Services): TaskFollower {
  let follower = followers.get(services.jobs);
  if (follower === undefined) {
    follower = new TaskFollower(services);
    followers.set(services.jobs, follower);
  }
  return follower;
}

/** What the call left for the task to follow, given to createTask as its context. */
interface TaskStart {
  tool: string;
  /** The tool's answer to the call's quick part. */
  answer: CallToolResult;
}

function isTaskStart(
  context: Record<string, unknown> | undefined,
): context is Record<string, unknown> & TaskStart {
  return typeof context?.tool === 'string' && typeof context.answer === 'object' && context.answer !== null;
}

function textOf(result: Record<string, unknown>): string | undefined {
  const content = (result as CallToolResult).content;
  const first = Array.isArray(content) ? content[0] : undefined;
  return first?.type === 'text' ? first.text : undefined;
}

function cancelMessage(row: TaskRecord): string {
  return row.jobId === null
    ? 'Cancelled by the client.'
    : `Cancelled by the client: this task no longer waits. Video job ${row.jobId} cannot be cancelled at Apiframe: it keeps rendering, is charged, and is still settled and saved; get_video with job_id "${row.jobId}" returns it.`;
}

/**
 * The TaskStore of one session: the session's member sees and cancels only their own tasks. When a task of this
 * session changes status (its job settled and saved, or the client cancelled it), `announce` sends the session
 * `notifications/tasks/status` with the task as it now stands; a client may rely on tasks/get instead.
 */
export class LedgerTaskStore implements TaskStore {
  private readonly member: string;
  private readonly follower: TaskFollower;

  constructor(
    private readonly services: Services,
    session: Session,
    private readonly present: (result: Awaited<ReturnType<typeof videoAnswer>>) => CallToolResult,
    private readonly announce: (task: Task) => Promise<void>,
  ) {
    this.member = session.member?.name ?? '';
    this.follower = followerOf(services);
  }

  /** The client's lifetime, at most a day. */
  private ttl(requested: number | null | undefined): number {
    if (typeof requested !== 'number' || !Number.isFinite(requested)) return TASK_TTL_MS;
    return Math.min(TASK_TTL_MS, Math.max(1_000, Math.floor(requested)));
  }

  /** Opens a task for a call whose quick part is done (see server.ts); answers the tools/call with it. */
  async open(tool: string, answer: CallToolResult, requested: number | undefined): Promise<CreateTaskResult> {
    const task = await this.createTask({ ttl: requested ?? null, context: { tool, answer } });
    return { task };
  }

  async createTask(taskParams: CreateTaskOptions): Promise<Task> {
    const context = taskParams.context;
    if (!isTaskStart(context))
      throw new McpError(ErrorCode.InternalError, 'a task needs the call it stands for');
    const out = context.answer.structuredContent as Partial<VideoOutput> | undefined;
    const jobId = out?.job_id ?? null;
    const row = await this.services.ledger.createTask({
      taskId: randomUUID(),
      member: this.member,
      tool: context.tool,
      jobId,
      submission: out?.submission ?? 'existing',
      warnings: out?.warnings ?? [],
      // Without a job there is nothing to follow: the answer is final.
      result: jobId === null ? (context.answer as Record<string, unknown>) : null,
      ttlMs: this.ttl(taskParams.ttl),
    });
    const task = await this.view(row);
    if (row.jobId !== null && task.status === 'working')
      this.follower.follow(row.jobId, () => void this.statusChanged(row.taskId));
    return task;
  }

  /** Tells the session that a task ended with its job (a cancelled one was told when cancelled). */
  private async statusChanged(taskId: string): Promise<void> {
    try {
      const task = await this.getTask(taskId);
      if (task === null || task.status === 'working' || task.status === 'cancelled') return;
      await this.announce(task);
    } catch (error) {
      // The session may have ended; the task's status is still there for tasks/get.
      log.debug('task status not announced', { taskId, error: String(error) });
    }
  }

  async getTask(taskId: string): Promise<Task | null> {
    const row = await this.services.ledger.getTask(taskId, this.member);
    return row === undefined ? null : this.view(row);
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const row = await this.services.ledger.getTask(taskId, this.member);
    if (row === undefined) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
    if (row.result !== null) return row.result;
    const record = await this.record(row);
    if (record === undefined)
      throw new McpError(ErrorCode.InternalError, `The ledger has no record of job ${row.jobId}.`);
    const warnings = [...row.warnings];
    const saveError = this.follower.saveError(record.jobId ?? '');
    if (saveError !== undefined) warnings.push(saveError);
    if (row.cancelledAt !== null) warnings.push(row.cancelMessage ?? cancelMessage(row));
    const result = await videoAnswer(
      record,
      undefined,
      row.submission as VideoOutput['submission'],
      warnings,
      this.services,
      Date.parse(row.createdAt),
    );
    // Said once: videoResult adds its own warnings (price drift) to the ones the call recorded.
    result.structured.warnings = [...new Set(result.structured.warnings)];
    return this.present(result);
  }

  async storeTaskResult(taskId: string, _status: 'completed' | 'failed', result: Result): Promise<void> {
    await this.services.ledger.storeTaskResult(taskId, this.member, result);
  }

  async updateTaskStatus(taskId: string, status: Task['status']): Promise<void> {
    // A task's other states follow its job; the client can only cancel it.
    if (status !== 'cancelled')
      throw new Error(`a task's status follows its job; it cannot be set to ${status}`);
    const row = await this.services.ledger.getTask(taskId, this.member);
    if (row === undefined) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
    const cancelled = await this.services.ledger.cancelTask(taskId, this.member, cancelMessage(row));
    // The job goes on without the task: it must still be settled and its files saved.
    if (row.jobId !== null) this.follower.follow(row.jobId);
    if (!cancelled) return;
    const task = await this.getTask(taskId);
    if (task !== null)
      await this.announce(task).catch((error: unknown) =>
        log.debug('task status not announced', { taskId, error: String(error) }),
      );
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    let page: TaskPage;
    try {
      page = await this.services.ledger.listTasks(this.member, TASKS_PER_PAGE, cursor);
    } catch (error) {
      if (error instanceof InvalidCursorError)
        throw new McpError(ErrorCode.InvalidParams, 'Invalid cursor: pass nextCursor exactly as returned.');
      throw error;
    }
    const tasks = await Promise.all(page.tasks.map((row) => this.view(row)));
    return { tasks, ...(page.nextCursor === null ? {} : { nextCursor: page.nextCursor }) };
  }

  private async record(row: TaskRecord): Promise<JobRecord | undefined> {
    return row.jobId === null ? undefined : this.services.ledger.findByJobId(row.jobId);
  }

  /** The task as its job stands now; a job still open is followed by this process from here on. */
  private async view(row: TaskRecord): Promise<Task> {
    const base = {
      taskId: row.taskId,
      ttl: row.ttlMs,
      createdAt: row.createdAt,
      // The polling cap: how soon a change upstream is seen (with webhooks, sooner than their safety-net polling).
      pollInterval: Math.min(this.services.poll.capMs, DEFAULT_POLL.capMs),
    };
    if (row.cancelledAt !== null) {
      return {
        ...base,
        status: 'cancelled',
        lastUpdatedAt: row.cancelledAt,
        statusMessage: row.cancelMessage ?? cancelMessage(row),
      };
    }
    if (row.result !== null) {
      const message = textOf(row.result);
      return {
        ...base,
        status: row.result.isError === true ? 'failed' : 'completed',
        lastUpdatedAt: row.createdAt,
        ...(message === undefined ? {} : { statusMessage: message }),
      };
    }
    const record = await this.record(row);
    if (record === undefined || record.jobId === null) {
      return {
        ...base,
        status: 'failed',
        lastUpdatedAt: row.createdAt,
        statusMessage: `The ledger has no record of job ${row.jobId}.`,
      };
    }
    const jobId = record.jobId;
    // ISO times of one clock sort as strings.
    const lastUpdatedAt = [row.createdAt, record.updatedAt].sort()[1] ?? row.createdAt;
    const status = videoStatus(record.status);
    if (status === 'completed') {
      const video = record.downloads.find((f) => f.kind === 'video');
      if (video !== undefined)
        return { ...base, status: 'completed', lastUpdatedAt, statusMessage: `Video saved: ${video.path}` };
      const saveError = this.follower.saveError(jobId);
      if (saveError !== undefined)
        return {
          ...base,
          status: 'completed',
          lastUpdatedAt,
          statusMessage: `Video ready but not saved: ${saveError}`,
        };
      this.follower.follow(jobId);
      return { ...base, status: 'working', lastUpdatedAt, statusMessage: 'Video ready; saving it.' };
    }
    if (status === 'failed' || status === 'cancelled' || status === 'rejected') {
      return {
        ...base,
        status: 'failed',
        lastUpdatedAt,
        statusMessage: `Job ${jobId} ${status}: ${record.failure ?? 'no reason given'}`,
      };
    }
    this.follower.follow(jobId);
    const progress = this.services.jobs.feed.latest(jobId)?.progress ?? record.progress;
    return {
      ...base,
      status: 'working',
      lastUpdatedAt,
      statusMessage: `Job ${jobId} ${status}${progress === null ? '' : ` ${progress}%`}`,
    };
  }
}
