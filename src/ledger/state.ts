/**
 * The ledger as a fold over events. Both stores (memory and file) hold the same state and decide with the same
 * functions; the file store only adds durability and a lock, so what the tests prove of one holds for the other.
 */
import { TERMINAL_STATUSES } from '../apiframe/schemas.js';
import type { BudgetPeriod } from '../app/config.js';
import { InvalidArgumentsError } from '../core/errors.js';
import type { MediaKind } from '../domain/params.js';
import type {
  BudgetSnapshot,
  DownloadClaim,
  DownloadedFile,
  JobRecord,
  JobUpdate,
  LedgerStatus,
  ListQuery,
  ReserveOutcome,
  ReserveRequest,
  UploadCacheEntry,
} from './types.js';
import { OPEN_STATUSES } from './types.js';

export type LedgerEvent =
  | { type: 'reserved'; record: JobRecord }
  | { type: 'resumed'; key: string; owner: string; at: string }
  | { type: 'submitted'; key: string; jobId: string; at: string }
  | { type: 'rejected'; key: string; reason: string; at: string }
  | { type: 'job'; jobId: string; update: JobUpdate; at: string }
  | { type: 'discovered'; record: JobRecord }
  | { type: 'download_claimed'; jobId: string; owner: string; until: string }
  | { type: 'download_released'; jobId: string; owner: string }
  | { type: 'downloaded'; jobId: string; files: DownloadedFile[]; at: string }
  | { type: 'upload'; entry: UploadCacheEntry };

interface Claim {
  owner: string;
  until: string;
}

export class LedgerState {
  readonly records = new Map<string, JobRecord>();
  readonly keyByJobId = new Map<string, string>();
  readonly uploads = new Map<string, UploadCacheEntry>();
  readonly claims = new Map<string, Claim>();

  apply(event: LedgerEvent): void {
    switch (event.type) {
      case 'reserved':
      case 'discovered':
        this.records.set(event.record.key, structuredClone(event.record));
        if (event.record.jobId !== null) this.keyByJobId.set(event.record.jobId, event.record.key);
        return;
      case 'resumed':
        this.patch(event.key, event.at, (r) => {
          r.owner = event.owner;
        });
        return;
      case 'submitted':
        this.patch(event.key, event.at, (r) => {
          r.jobId = event.jobId;
          if (r.status === 'submitting' || r.status === 'rejected') r.status = 'QUEUED';
          this.keyByJobId.set(event.jobId, r.key);
        });
        return;
      case 'rejected':
        this.patch(event.key, event.at, (r) => {
          if (r.status !== 'submitting') return;
          r.status = 'rejected';
          r.failure = event.reason;
        });
        return;
      case 'job': {
        const key = this.keyByJobId.get(event.jobId);
        if (key !== undefined) this.patch(key, event.at, (r) => applyJobUpdate(r, event.update));
        return;
      }
      case 'download_claimed':
        this.claims.set(event.jobId, { owner: event.owner, until: event.until });
        return;
      case 'download_released':
        if (this.claims.get(event.jobId)?.owner === event.owner) this.claims.delete(event.jobId);
        return;
      case 'downloaded': {
        this.claims.delete(event.jobId);
        const key = this.keyByJobId.get(event.jobId);
        if (key !== undefined) {
          this.patch(key, event.at, (r) => {
            r.downloads = structuredClone(event.files);
          });
        }
        return;
      }
      case 'upload':
        this.uploads.set(uploadKey(event.entry.sha256, event.entry.kind), { ...event.entry });
        return;
    }
  }

  byJobId(jobId: string): JobRecord | undefined {
    const key = this.keyByJobId.get(jobId);
    return key === undefined ? undefined : this.records.get(key);
  }

  upload(sha256: string, kind: MediaKind, now: Date): UploadCacheEntry | undefined {
    const entry = this.uploads.get(uploadKey(sha256, kind));
    return entry !== undefined && Date.parse(entry.expiresAt) > now.getTime() ? entry : undefined;
  }

  private patch(key: string, at: string, change: (record: JobRecord) => void): void {
    const record = this.records.get(key);
    if (record === undefined) return;
    change(record);
    record.updatedAt = at;
  }
}

function uploadKey(sha256: string, kind: MediaKind): string {
  return `${kind}:${sha256}`;
}

const STATUS_RANK: Record<LedgerStatus, number> = {
  submitting: 0,
  rejected: 0,
  QUEUED: 1,
  PROCESSING: 2,
  COMPLETED: 3,
  FAILED: 3,
  CANCELLED: 3,
};

/** Polls can arrive out of order (two processes, a retried GET): a status never moves backwards. */
function applyJobUpdate(record: JobRecord, update: JobUpdate): void {
  if (
    TERMINAL_STATUSES.has(record.status as never) ||
    STATUS_RANK[update.status] < STATUS_RANK[record.status]
  )
    return;
  const sameStatus = update.status === record.status;
  record.status = update.status;
  if (update.progress !== null) {
    record.progress =
      sameStatus && record.progress !== null ? Math.max(record.progress, update.progress) : update.progress;
  }
  if (update.result !== undefined && update.result !== null) record.result = update.result;
  if (update.failure !== undefined && update.failure !== null) record.failure = update.failure;
  if (update.status === 'FAILED' || update.status === 'CANCELLED') {
    record.charged = 0;
    record.refunded = true;
  } else if (update.creditCost !== null) {
    // Apiframe charges on submission and reports it on the job from then on.
    record.charged = update.creditCost;
  } else if (update.status === 'COMPLETED') {
    record.charged ??= record.estimate?.credits ?? null;
  }
}

/** Where the current budget period began: 00:00 UTC today, or on the first of this month. */
export function periodStart(period: BudgetPeriod, now: Date): Date | null {
  if (period === 'day') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  if (period === 'month') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return null;
}

export function budgetOf(
  state: LedgerState,
  limit: number | null,
  period: BudgetPeriod,
  now: Date,
): BudgetSnapshot {
  const start = periodStart(period, now);
  let spent = 0;
  let reserved = 0;
  for (const record of state.records.values()) {
    // Jobs found upstream were not paid through this ledger's budget.
    if (record.discovered) continue;
    if (start !== null && Date.parse(record.createdAt) < start.getTime()) continue;
    if (record.status === 'COMPLETED') spent += record.charged ?? record.estimate?.credits ?? 0;
    else if (OPEN_STATUSES.has(record.status)) reserved += record.charged ?? record.estimate?.credits ?? 0;
  }
  return {
    limit,
    period,
    periodStart: start === null ? null : start.toISOString(),
    spent,
    reserved,
    remaining: limit === null ? null : Math.max(0, limit - spent - reserved),
  };
}

export interface ReserveContext {
  limit: number | null;
  period: BudgetPeriod;
  now: Date;
  owner: string;
  attachWindowMs: number;
  makeKey: () => string;
}

/** The decision for one reservation, and the event that records it (none when nothing changes). */
export function decideReserve(
  state: LedgerState,
  request: ReserveRequest,
  ctx: ReserveContext,
): { outcome: ReserveOutcome; event: LedgerEvent | undefined } {
  const at = ctx.now.toISOString();
  const budget = () => budgetOf(state, ctx.limit, ctx.period, ctx.now);
  // The agent's own key names one submission forever; without a known key, an identical live request is the same one.
  const existing =
    (request.key === undefined ? undefined : state.records.get(request.key)) ??
    (request.newJob ? undefined : identical(state, request, ctx));
  if (existing !== undefined && existing.requestHash !== request.requestHash) {
    return { outcome: { kind: 'key_conflict', record: copy(existing) }, event: undefined };
  }
  if (existing !== undefined && existing.status === 'submitting' && existing.jobId === null) {
    const event: LedgerEvent = { type: 'resumed', key: existing.key, owner: ctx.owner, at };
    state.apply(event);
    return { outcome: { kind: 'resume', record: copy(existing), budget: budget() }, event };
  }
  if (existing !== undefined && existing.status !== 'rejected') {
    return { outcome: { kind: 'attached', record: copy(existing), budget: budget() }, event: undefined };
  }
  // A new reservation, or a key whose earlier POST was refused: that one cost nothing, so it may be tried again.
  const before = budget();
  if (before.remaining !== null && request.estimate.credits > before.remaining) {
    return {
      outcome: { kind: 'over_budget', budget: before, needed: request.estimate.credits },
      event: undefined,
    };
  }
  const record = newRecord({
    key: existing?.key ?? request.key ?? ctx.makeKey(),
    requestHash: request.requestHash,
    request: request.request,
    estimate: request.estimate,
    owner: ctx.owner,
    jobId: null,
    status: 'submitting',
    discovered: false,
    at,
  });
  const event: LedgerEvent = { type: 'reserved', record };
  state.apply(event);
  return { outcome: { kind: 'reserved', record: copy(record), budget: budget() }, event };
}

/** A record as first written: nothing yet known of its job's progress, cost or files. */
export function newRecord(
  fields: Pick<
    JobRecord,
    'key' | 'requestHash' | 'request' | 'estimate' | 'owner' | 'jobId' | 'status' | 'discovered'
  > & {
    at: string;
  },
): JobRecord {
  const { at, ...known } = fields;
  return {
    ...known,
    createdAt: at,
    progress: null,
    charged: null,
    refunded: false,
    failure: null,
    result: null,
    downloads: [],
    updatedAt: at,
  };
}

/** The newest identical request still worth attaching to: in flight, or completed within the attach window. */
function identical(state: LedgerState, request: ReserveRequest, ctx: ReserveContext): JobRecord | undefined {
  let found: JobRecord | undefined;
  for (const record of state.records.values()) {
    if (record.discovered || record.requestHash !== request.requestHash) continue;
    const live =
      OPEN_STATUSES.has(record.status) ||
      (record.status === 'COMPLETED' &&
        ctx.now.getTime() - Date.parse(record.updatedAt) <= ctx.attachWindowMs);
    if (live && (found === undefined || record.createdAt >= found.createdAt)) found = record;
  }
  return found;
}

export function decideClaim(
  state: LedgerState,
  jobId: string,
  owner: string,
  now: Date,
  leaseMs: number,
  isOwnerAlive: (owner: string) => boolean,
): { claim: DownloadClaim; event: LedgerEvent | undefined } {
  const record = state.byJobId(jobId);
  if (record !== undefined && record.downloads.length > 0) {
    return { claim: { kind: 'done', files: structuredClone(record.downloads) }, event: undefined };
  }
  const held = state.claims.get(jobId);
  if (
    held !== undefined &&
    held.owner !== owner &&
    Date.parse(held.until) > now.getTime() &&
    isOwnerAlive(held.owner)
  ) {
    return { claim: { kind: 'busy' }, event: undefined };
  }
  const event: LedgerEvent = {
    type: 'download_claimed',
    jobId,
    owner,
    until: new Date(now.getTime() + leaseMs).toISOString(),
  };
  state.apply(event);
  return { claim: { kind: 'claimed' }, event };
}

/** The cursor is the last record's (createdAt, key), so pages stay stable while new jobs arrive. */
export function listRecords(
  state: LedgerState,
  query: ListQuery,
): { records: JobRecord[]; nextCursor: string | null } {
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const sorted = [...state.records.values()]
    .filter((r) => query.status === undefined || r.status === query.status)
    .sort((a, b) => compareNewestFirst(a.createdAt, a.key, b.createdAt, b.key));
  const start =
    after === undefined
      ? 0
      : sorted.findIndex((r) => compareNewestFirst(r.createdAt, r.key, after.createdAt, after.key) > 0);
  const page = start < 0 ? [] : sorted.slice(start, start + query.limit);
  const last = page.at(-1);
  const more = start >= 0 && start + query.limit < sorted.length;
  return {
    records: page.map((r) => copy(r)),
    nextCursor: more && last !== undefined ? encodeCursor(last.createdAt, last.key) : null,
  };
}

function compareNewestFirst(aAt: string, aKey: string, bAt: string, bKey: string): number {
  if (aAt !== bAt) return aAt < bAt ? 1 : -1;
  return aKey < bKey ? 1 : aKey > bKey ? -1 : 0;
}

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
  throw new InvalidArgumentsError(
    [{ field: 'cursor', message: 'not a cursor this server returned' }],
    'Pass next_cursor from the previous list_videos result exactly, or leave cursor out for the first page.',
  );
}

export function orphansOf(state: LedgerState, isOwnerAlive: (owner: string) => boolean): JobRecord[] {
  return [...state.records.values()]
    .filter((r) => r.jobId !== null && OPEN_STATUSES.has(r.status) && !isOwnerAlive(r.owner))
    .map((r) => copy(r));
}

export function copy<T extends JobRecord | undefined>(record: T): T {
  return record === undefined ? record : structuredClone(record);
}
