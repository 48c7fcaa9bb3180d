/**
 * MCP tasks as the ledger knows them: which job (or which finished answer) a task stands for, whose it is, how long
 * it lives, and whether its caller cancelled it. A task's progress and result are not kept here: they are the job's,
 * read from the job records. Kept in SQLite beside the ledger (tasks.db in the state folder), so that every process
 * on the machine, and the next one after a restart, answers for the same tasks.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export const TASKS_FILE = 'tasks.db';

export interface TaskRow {
  taskId: string;
  /** Whose task it is ('' : the machine's owner). */
  member: string;
  /** The tool called. */
  tool: string;
  /** The job the task follows; null when the call ended before a job existed (then `result` is its answer). */
  jobId: string | null;
  /** How the call met its job: submitted, resumed, attached, existing. */
  submission: string;
  warnings: string[];
  /** The tool's answer, when the call ended without a job to follow (a refusal, an invalid argument). */
  result: Record<string, unknown> | null;
  createdAt: string;
  ttlMs: number;
  /** When the client cancelled the task, and what it was told. */
  cancelledAt: string | null;
  cancelMessage: string | null;
}

export interface TaskPage {
  rows: TaskRow[];
  nextCursor: string | null;
}

interface Stored {
  seq: number;
  task_id: string;
  member: string;
  tool: string;
  job_id: string | null;
  submission: string;
  warnings: string;
  result: string | null;
  created_at: string;
  ttl_ms: number;
  expires_at: string;
  cancelled_at: string | null;
  cancel_message: string | null;
}

function fromStored(row: Stored): TaskRow {
  return {
    taskId: row.task_id,
    member: row.member,
    tool: row.tool,
    jobId: row.job_id,
    submission: row.submission,
    warnings: JSON.parse(row.warnings) as string[],
    result: row.result === null ? null : (JSON.parse(row.result) as Record<string, unknown>),
    createdAt: row.created_at,
    ttlMs: row.ttl_ms,
    cancelledAt: row.cancelled_at,
    cancelMessage: row.cancel_message,
  };
}

export class BadTaskCursorError extends Error {}

export class TaskTable {
  private opened: DatabaseSync | undefined;

  /** `dir`: the state folder; undefined keeps the tasks in memory (simulation, where jobs die with the process). */
  constructor(
    private readonly dir: string | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Opened at the first task, not at start: a server whose state folder cannot be written still starts and prices
   * (the ledger names the problem), and only a task call fails.
   */
  private get db(): DatabaseSync {
    if (this.opened !== undefined) return this.opened;
    const dir = this.dir;
    if (dir !== undefined) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(dir === undefined ? ':memory:' : join(dir, TASKS_FILE));
    try {
      // Several processes share the file: readers never block the writer, and a writer waits for another's turn.
      db.exec('PRAGMA busy_timeout = 5000');
      if (dir !== undefined) db.exec('PRAGMA journal_mode = WAL');
      // seq orders tasks as they were made, even several in one millisecond.
      db.exec(`CREATE TABLE IF NOT EXISTS tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL UNIQUE,
        member TEXT NOT NULL,
        tool TEXT NOT NULL,
        job_id TEXT,
        submission TEXT NOT NULL,
        warnings TEXT NOT NULL,
        result TEXT,
        created_at TEXT NOT NULL,
        ttl_ms INTEGER NOT NULL,
        expires_at TEXT NOT NULL,
        cancelled_at TEXT,
        cancel_message TEXT
      );
      CREATE INDEX IF NOT EXISTS tasks_by_member ON tasks (member, seq);`);
    } catch (error) {
      db.close();
      throw error;
    }
    this.opened = db;
    return db;
  }

  /** Records a new task, and forgets the ones whose time is up. */
  create(row: Omit<TaskRow, 'createdAt' | 'cancelledAt' | 'cancelMessage'>): TaskRow {
    const now = this.now();
    const createdAt = now.toISOString();
    this.db.prepare('DELETE FROM tasks WHERE expires_at <= ?').run(createdAt);
    this.db
      .prepare(
        `INSERT INTO tasks (task_id, member, tool, job_id, submission, warnings, result, created_at, ttl_ms, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        row.taskId,
        row.member,
        row.tool,
        row.jobId,
        row.submission,
        JSON.stringify(row.warnings),
        row.result === null ? null : JSON.stringify(row.result),
        createdAt,
        row.ttlMs,
        new Date(now.getTime() + row.ttlMs).toISOString(),
      );
    return { ...row, createdAt, cancelledAt: null, cancelMessage: null };
  }

  /** The member's task, unless its time is up; another member's task is as unknown as one that never existed. */
  get(taskId: string, member: string): TaskRow | undefined {
    const row = this.db
      .prepare('SELECT * FROM tasks WHERE task_id = ? AND member = ? AND expires_at > ?')
      .get(taskId, member, this.now().toISOString()) as Stored | undefined;
    return row === undefined ? undefined : fromStored(row);
  }

  /** The member's live tasks, newest first. */
  list(member: string, limit: number, cursor: string | undefined): TaskPage {
    const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(cursor);
    const rows = this.db
      .prepare(
        'SELECT * FROM tasks WHERE member = ? AND expires_at > ? AND seq < ? ORDER BY seq DESC LIMIT ?',
      )
      .all(member, this.now().toISOString(), before, limit + 1) as unknown as Stored[];
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      rows: page.map(fromStored),
      nextCursor:
        rows.length > limit && last !== undefined
          ? Buffer.from(JSON.stringify(['tasks', last.seq])).toString('base64url')
          : null,
    };
  }

  /** Marks the task cancelled, once: false when it was already cancelled (or is not the member's). */
  cancel(taskId: string, member: string, message: string): boolean {
    const changed = this.db
      .prepare(
        'UPDATE tasks SET cancelled_at = ?, cancel_message = ? WHERE task_id = ? AND member = ? AND cancelled_at IS NULL',
      )
      .run(this.now().toISOString(), message, taskId, member);
    return Number(changed.changes) === 1;
  }

  /** Keeps the final answer of a task whose call ended without a job. */
  storeResult(taskId: string, member: string, result: Record<string, unknown>): void {
    this.db
      .prepare('UPDATE tasks SET result = ? WHERE task_id = ? AND member = ?')
      .run(JSON.stringify(result), taskId, member);
  }

  close(): void {
    this.opened?.close();
    this.opened = undefined;
  }
}

function decodeCursor(cursor: string): number {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value[0] === 'tasks' && Number.isSafeInteger(value[1]))
      return value[1] as number;
  } catch {
    // reported below
  }
  throw new BadTaskCursorError('not a cursor this server returned');
}
