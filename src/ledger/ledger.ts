/**
 * The Ledger interface over an event store. Every decision is made on the store's up-to-date state inside one
 * exclusive transaction, so two processes sharing a file store cannot both take the last credits of a budget.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UnknownRecordError } from '../core/errors.js';
import { MODEL } from '../domain/params.js';
import {
  budgetOf,
  copy,
  decideClaim,
  decideReserve,
  type LedgerEvent,
  type LedgerState,
  listRecords,
  newRecord,
  orphansOf,
} from './state.js';
import type { JobRecord, JobUpdate, Ledger, LedgerOptions } from './types.js';

export interface EventStore {
  /**
   * Runs `decide` on the current state, exclusively among all users of the store. `decide` applies its events to
   * the state itself and returns them; they are durable before the returned promise resolves.
   */
  transact<T>(decide: (state: LedgerState) => { value: T; events: LedgerEvent[] }): Promise<T>;
  read<T>(look: (state: LedgerState) => T): Promise<T>;
  close(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_DOWNLOAD_LEASE_MS = 10 * 60 * 1000;

export function currentOwner(): string {
  return `${process.pid}@${hostname()}`;
}

/** A record's owner is alive when it is this process, or a process of this host that still answers signal 0. */
export function isProcessAlive(owner: string): boolean {
  const at = owner.indexOf('@');
  const pid = Number(owner.slice(0, at));
  if (owner.slice(at + 1) !== hostname()) return true;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function required(record: JobRecord | undefined, what: string): JobRecord {
  if (record === undefined) throw new UnknownRecordError(what);
  return record;
}

export function ledgerOver(store: EventStore, options: LedgerOptions): Ledger {
  const now = options.now ?? (() => new Date());
  const owner = options.owner ?? currentOwner();
  const isOwnerAlive = options.isOwnerAlive ?? isProcessAlive;
  const leaseMs = options.downloadLeaseMs ?? DEFAULT_DOWNLOAD_LEASE_MS;
  const at = () => now().toISOString();

  /** Applies one event to an existing record and returns the record after it. */
  const change = (
    find: (state: LedgerState) => JobRecord | undefined,
    what: string,
    event: () => LedgerEvent,
  ) =>
    store.transact((state) => {
      const record = required(find(state), what);
      const previousAt = record.updatedAt;
      const before = JSON.stringify({ ...record, updatedAt: '' });
      const e = event();
      state.apply(e);
      const after = required(find(state), what);
      // A poll that changes nothing is not worth a line in the file.
      if (JSON.stringify({ ...after, updatedAt: '' }) === before) {
        after.updatedAt = previousAt;
        return { value: copy(after), events: [] };
      }
      return { value: copy(after), events: [e] };
    });

  return {
    reserve: (request) =>
      store.transact((state) => {
        const { outcome, event } = decideReserve(state, request, {
          limit: options.budgetLimit,
          period: options.period,
          now: now(),
          owner,
          attachWindowMs: options.attachWindowMs ?? DAY_MS,
          makeKey: options.makeKey ?? (() => `seedance-mcp-${randomUUID()}`),
        });
        return { value: outcome, events: event === undefined ? [] : [event] };
      }),

    budget: () => store.read((state) => budgetOf(state, options.budgetLimit, options.period, now())),

    markSubmitted: (key, jobId) =>
      change(
        (s) => s.records.get(key),
        `key ${key}`,
        () => ({ type: 'submitted', key, jobId, at: at() }),
      ),

    markRejected: (key, reason) =>
      change(
        (s) => s.records.get(key),
        `key ${key}`,
        () => ({ type: 'rejected', key, reason, at: at() }),
      ),

    updateJob: (jobId, update) =>
      change(
        (s) => s.byJobId(jobId),
        `job ${jobId}`,
        () => ({ type: 'job', jobId, update, at: at() }),
      ),

    recordDiscovered: (jobId, update) =>
      store.transact((state) => {
        const events: LedgerEvent[] = [];
        if (state.byJobId(jobId) === undefined) events.push(discovered(jobId, update, owner, at()));
        events.push({ type: 'job', jobId, update, at: at() });
        for (const e of events) state.apply(e);
        return { value: copy(required(state.byJobId(jobId), `job ${jobId}`)), events };
      }),

    claimDownload: (jobId) =>
      store.transact((state) => {
        const { claim, event } = decideClaim(state, jobId, owner, now(), leaseMs, isOwnerAlive);
        return { value: claim, events: event === undefined ? [] : [event] };
      }),

    recordDownload: (jobId, files) =>
      store.transact((state) => {
        const event: LedgerEvent = { type: 'downloaded', jobId, files, at: at() };
        state.apply(event);
        return { value: copy(required(state.byJobId(jobId), `job ${jobId}`)), events: [event] };
      }),

    releaseDownload: (jobId) =>
      store.transact((state) => {
        if (state.claims.get(jobId)?.owner !== owner) return { value: undefined, events: [] };
        const event: LedgerEvent = { type: 'download_released', jobId, owner };
        state.apply(event);
        return { value: undefined, events: [event] };
      }),

    findByJobId: (jobId) => store.read((state) => copy(state.byJobId(jobId))),
    findByKey: (key) => store.read((state) => copy(state.records.get(key))),
    list: (query) => store.read((state) => listRecords(state, query)),
    orphans: () => store.read((state) => orphansOf(state, isOwnerAlive)),
    getUpload: (sha256, kind) => store.read((state) => state.upload(sha256, kind, now())),

    putUpload: (entry) =>
      store.transact((state) => {
        const event: LedgerEvent = { type: 'upload', entry };
        state.apply(event);
        return { value: undefined, events: [event] };
      }),

    close: () => store.close(),
  };
}

function discovered(jobId: string, update: JobUpdate, owner: string, at: string): LedgerEvent {
  const record = newRecord({
    key: `discovered-${jobId}`,
    requestHash: '',
    request: { model: MODEL, prompt: update.prompt ?? '' },
    estimate: null,
    owner,
    jobId,
    status: 'QUEUED',
    discovered: true,
    at,
  });
  return { type: 'discovered', record };
}
