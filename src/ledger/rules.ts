/**
 * The ledger's rules that need no store: how a poll changes a job, which values may be written, where a budget period
 * begins, how a member's key is kept apart, and the list cursor. A second store (PostgreSQL) decides with the same.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { TERMINAL_STATUSES } from '../apiframe/schemas.js';
import { InvalidCursorError, LedgerValueError } from '../core/errors.js';
import type { BudgetPeriod } from '../domain/budget.js';
import { LIMITS, MODELS } from '../domain/params.js';
import { type LearnedRate, VARIANTS } from '../domain/pricing.js';
import { type JobRecord, type JobUpdate, type LedgerStatus, LOCAL_MEMBER, OPEN_STATUSES } from './types.js';

const STATUS_RANK: Record<LedgerStatus, number> = {
  submitting: 0,
  rejected: 0,
  QUEUED: 1,
  PROCESSING: 2,
  COMPLETED: 3,
  FAILED: 3,
  CANCELLED: 3,
};

/** A credit amount as the ledger keeps it: a whole, non-negative number. Anything else is refused, never guessed. */
export function credits(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new LedgerValueError(`${what} must be a whole number of credits, at least 0; got ${String(value)}`);
  }
  return value;
}

/**
 * The job after one poll. Polls can arrive out of order (two processes, a retried GET): a status never moves
 * backwards, and a terminal one never changes. Returns the same object when the poll changes nothing.
 */
export function applyJobUpdate(record: JobRecord, update: JobUpdate, at: string): JobRecord {
  if (
    TERMINAL_STATUSES.has(record.status as never) ||
    STATUS_RANK[update.status] < STATUS_RANK[record.status]
  )
    return record;
  const next: JobRecord = { ...record, status: update.status };
  const progress = update.progress;
  // Progress is only shown, never decided on: a value out of range is bounded rather than refused.
  if (progress !== null && Number.isFinite(progress)) {
    const bounded = Math.min(100, Math.max(0, progress));
    next.progress =
      update.status === record.status && record.progress !== null
        ? Math.max(record.progress, bounded)
        : bounded;
  }
  const anomalies = (update.anomalies ?? []).filter((a) => !record.upstreamAnomalies.includes(a));
  if (anomalies.length > 0) next.upstreamAnomalies = [...record.upstreamAnomalies, ...new Set(anomalies)];
  if (update.result !== undefined && update.result !== null) next.result = update.result;
  if (update.failure !== undefined && update.failure !== null) next.failure = update.failure;
  if (update.status === 'FAILED' || update.status === 'CANCELLED') {
    next.charged = 0;
    next.refunded = true;
  } else if (update.creditCost !== null) {
    // Apiframe charges on submission and reports it on the job from then on.
    next.charged = credits(update.creditCost, 'the credits charged');
  } else if (update.status === 'COMPLETED') {
    next.charged = record.charged ?? record.estimate?.credits ?? null;
  }
  const changed = (Object.keys(next) as (keyof JobRecord)[]).some(
    (field) => JSON.stringify(next[field]) !== JSON.stringify(record[field]),
  );
  return changed ? { ...next, updatedAt: at } : record;
}

/** The bucket of a budget period that `now` falls in: `2026-11-24` (day), `2026-11` (month), `` (total); UTC. */
export function periodKey(period: BudgetPeriod, now: Date): string {
  const iso = now.toISOString();
  if (period === 'day') return iso.slice(0, 10);
  if (period === 'month') return iso.slice(0, 7);
  return '';
}

/** Where the current budget period began: 00:00 UTC today, or on the first of this month; null for `total`. */
export function periodStart(period: BudgetPeriod, now: Date): string | null {
  const key = periodKey(period, now);
  if (period === 'day') return `${key}T00:00:00.000Z`;
  if (period === 'month') return `${key}-01T00:00:00.000Z`;
  return null;
}

/**
 * A member's idempotency key as kept and sent upstream: prefixed with a short digest of the member's name (fixed
 * length, so it fits Apiframe's key limit), so that two members using the same key never share a job.
 */
export function memberKey(member: string, key: string): string {
  if (member === LOCAL_MEMBER) return key;
  return `m.${createHash('sha256').update(member).digest('hex').slice(0, 12)}.${key}`;
}

/** The process that writes a record: "pid@host", so a restart can tell which in-flight jobs lost their owner. */
export function currentOwner(): string {
  return `${process.pid}@${hostname()}`;
}

/** Whether an owner is a process of this host, whose life (unlike another host's) can be checked. */
export function isLocalOwner(owner: string): boolean {
  return owner.slice(owner.indexOf('@') + 1) === hostname();
}

/** A record's owner is alive when it is this process, or a process of this host that still answers signal 0. */
export function isProcessAlive(owner: string): boolean {
  if (!isLocalOwner(owner)) return true;
  const pid = Number(owner.slice(0, owner.indexOf('@')));
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The longest cursor encodeCursor makes: a record's time and a key of the longest stored length, every character of
 * it escaped in the JSON, in base64. What a list accepts back is bounded by it, so no cursor it gave is refused.
 */
export const MAX_CURSOR_LENGTH = Math.ceil((2 * LIMITS.idempotencyKey + 40) / 3) * 4;

/** The cursor is the last record's (createdAt, key), so pages stay stable while new jobs arrive. */
export function encodeCursor(createdAt: string, key: string): string {
  return Buffer.from(JSON.stringify([createdAt, key])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: string; key: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'string') {
      return { createdAt: value[0], key: value[1] };
    }
  } catch {
    // reported below
  }
  throw new InvalidCursorError();
}

/** A store's sums of charges by model and variant, as its query answers them. */
export interface ChargeSums {
  model: unknown;
  variant: unknown;
  charged: unknown;
  seconds: unknown;
  charges: unknown;
}

/**
 * Learned rates from a store's sums. A row naming a model or variant this server does not price, or with sums that
 * are not positive numbers, teaches nothing and is left out.
 */
export function learnedRatesFrom(rows: readonly ChargeSums[]): LearnedRate[] {
  const rates: LearnedRate[] = [];
  for (const row of rows) {
    const model = MODELS.find((m) => m === row.model);
    const variant = VARIANTS.find((v) => v === row.variant);
    const charged = Number(row.charged);
    const seconds = Number(row.seconds);
    const charges = Number(row.charges);
    if (model === undefined || variant === undefined) continue;
    if (!(charged > 0) || !(seconds > 0) || !Number.isSafeInteger(charges) || charges < 1) continue;
    rates.push({ model, variant, creditsPerSecond: charged / seconds, charges });
  }
  return rates;
}

/** A task cursor is the last task's place in the order tasks were made (its `seq`), so pages stay stable. */
export function encodeTaskCursor(seq: number): string {
  return Buffer.from(JSON.stringify(['tasks', seq])).toString('base64url');
}

export function decodeTaskCursor(cursor: string): number {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value[0] === 'tasks' && Number.isSafeInteger(value[1]))
      return value[1] as number;
  } catch {
    // reported below
  }
  throw new InvalidCursorError();
}

/** When a task made at `createdAt` with this TTL stops being answered for. */
export function taskExpiry(createdAt: Date, ttlMs: number): Date {
  return new Date(createdAt.getTime() + ttlMs);
}

/**
 * A record as first written: a submission about to be POSTed (`submitting`, no job id), or a job found upstream
 * (`discovered`). Both stores write it as it is; what follows changes it through applyJobUpdate.
 */
export function newRecord(
  init: Pick<
    JobRecord,
    'key' | 'member' | 'requestHash' | 'request' | 'estimate' | 'owner' | 'jobId' | 'status'
  > & {
    discovered: boolean;
    at: string;
  },
): JobRecord {
  const { at, ...fields } = init;
  return {
    ...fields,
    createdAt: at,
    progress: null,
    charged: null,
    refunded: false,
    failure: null,
    result: null,
    downloads: [],
    upstreamAnomalies: [],
    updatedAt: at,
  };
}

/** How long after completion an identical request still attaches to its job instead of paying again. */
export const ATTACH_WINDOW_MS = 24 * 60 * 60 * 1000;
/** How long a download claim of a process on another host holds before another may take it over. */
export const DOWNLOAD_LEASE_MS = 10 * 60 * 1000;
/** OPEN_STATUSES as an SQL list, for `status IN ...`. */
export const OPEN_STATUSES_SQL = `(${[...OPEN_STATUSES].map((s) => `'${s}'`).join(', ')})`;
