/**
 * The ledger on disk: one append-only JSON Lines file of events, shared by every server process of the user.
 *
 * Why a plain file and not SQLite: the server also ships as a Claude Desktop bundle for three platforms, and every
 * SQLite binding for Node 20 is a native addon (node:sqlite needs Node 22.5). An append-only log needs only `fs`.
 *
 * - Durable: a transaction's events are written in one append and fsynced before the caller hears of them.
 * - Exclusive: writers hold `ledger.lock` (created with O_EXCL) while they catch up, decide and append, so a budget
 *   check and its reservation are one step across processes. A lock left by a dead process is broken.
 * - Crash-safe: a writer killed mid-append leaves a last line without its newline; readers never consume it, and the
 *   next writer, holding the lock, cuts it off. Every complete line before it stands.
 */
import { randomUUID } from 'node:crypto';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readFile,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LedgerUnavailableError } from '../core/errors.js';
import { log } from '../core/log.js';
import { type EventStore, isProcessAlive } from './ledger.js';
import { type LedgerEvent, LedgerState } from './state.js';

export const LEDGER_FILE = 'ledger.jsonl';
export const LOCK_FILE = 'ledger.lock';
const FORMAT_VERSION = 1;
/** The lock is held for milliseconds; one this old belongs to a process that hung or died on another host. */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 20_000;
const READ_CHUNK = 1 << 20;
const NEWLINE = 0x0a;

const EVENT_TYPES: ReadonlySet<string> = new Set<LedgerEvent['type']>([
  'reserved',
  'resumed',
  'submitted',
  'rejected',
  'job',
  'discovered',
  'download_claimed',
  'download_released',
  'downloaded',
  'upload',
]);

export async function openFileStore(dir: string): Promise<EventStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const handle = await open(join(dir, LEDGER_FILE), 'a+', 0o600);
  return new FileStore(handle, join(dir, LOCK_FILE));
}

class FileStore implements EventStore {
  private state = new LedgerState();
  /** Bytes of the file already folded into `state`; always just after a newline. */
  private offset = 0;
  /** Operations of this process run one at a time; the lock file orders them against other processes. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly lockPath: string,
  ) {}

  transact<T>(decide: (state: LedgerState) => { value: T; events: LedgerEvent[] }): Promise<T> {
    return this.serially(async () => {
      const token = await acquireLock(this.lockPath);
      try {
        await this.catchUp(true);
        let decided: { value: T; events: LedgerEvent[] };
        try {
          decided = decide(this.state);
        } catch (error) {
          this.forget();
          throw error;
        }
        if (decided.events.length > 0) await this.append(decided.events);
        return decided.value;
      } finally {
        await releaseLock(this.lockPath, token);
      }
    });
  }

  read<T>(look: (state: LedgerState) => T): Promise<T> {
    return this.serially(async () => {
      await this.catchUp(false);
      return look(this.state);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.handle.close();
  }

  private serially<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new LedgerUnavailableError('it is closed (the server is shutting down)'));
    const run = this.queue.then(operation, operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Drops the in-memory state; the next operation rebuilds it from the file. */
  private forget(): void {
    this.state = new LedgerState();
    this.offset = 0;
  }

  private async append(events: LedgerEvent[]): Promise<void> {
    const text = events.map((event) => `${JSON.stringify({ v: FORMAT_VERSION, ...event })}\n`).join('');
    const bytes = Buffer.from(text, 'utf8');
    try {
      await this.handle.write(bytes, 0, bytes.length);
      await this.handle.datasync();
      this.offset += bytes.length;
    } catch (error) {
      // The file may hold part of the events; rereading it is the only way to agree with it again.
      this.forget();
      throw error;
    }
  }

  /** Folds in what other processes appended. With the lock held, a torn last line is cut off. */
  private async catchUp(holdsLock: boolean): Promise<void> {
    const { size } = await this.handle.stat();
    if (size < this.offset) this.forget();
    let carry = Buffer.alloc(0);
    while (this.offset + carry.length < size) {
      const position = this.offset + carry.length;
      const chunk = Buffer.alloc(Math.min(READ_CHUNK, size - position));
      const { bytesRead } = await this.handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      const data =
        carry.length === 0
          ? chunk.subarray(0, bytesRead)
          : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      const end = data.lastIndexOf(NEWLINE);
      if (end < 0) {
        carry = data;
        continue;
      }
      this.fold(data.subarray(0, end + 1));
      this.offset += end + 1;
      carry = data.subarray(end + 1);
    }
    if (holdsLock && this.offset < size) {
      log.warn('ledger: cutting off a torn last record (a process died while writing it)', {
        bytes: size - this.offset,
      });
      await this.handle.truncate(this.offset);
    }
  }

  private fold(lines: Buffer): void {
    for (const line of lines.toString('utf8').split('\n')) {
      if (line === '') continue;
      const event = parseEvent(line);
      if (event === undefined)
        log.warn('ledger: skipped an unreadable record', { excerpt: line.slice(0, 80) });
      else this.state.apply(event);
    }
  }
}

function parseEvent(line: string): LedgerEvent | undefined {
  try {
    const value = JSON.parse(line) as { v?: unknown; type?: unknown };
    if (value.v !== FORMAT_VERSION || typeof value.type !== 'string' || !EVENT_TYPES.has(value.type))
      return undefined;
    return value as LedgerEvent;
  } catch {
    return undefined;
  }
}

interface LockBody {
  pid: number;
  host: string;
  nonce: string;
}

async function acquireLock(lockPath: string): Promise<string> {
  const body: LockBody = { pid: process.pid, host: hostname(), nonce: randomUUID() };
  const token = JSON.stringify(body);
  // The lock appears with its content or not at all (a hard link of a finished file), so a process killed while
  // taking it never leaves an empty lock that nobody could judge.
  const draft = `${lockPath}.${body.nonce}.tmp`;
  await writeFile(draft, token, { mode: 0o600 });
  const started = Date.now();
  try {
    for (let attempt = 0; ; attempt++) {
      if (await tryLink(draft, lockPath, token)) return token;
      if (await breakStaleLock(lockPath)) continue;
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw new LedgerUnavailableError(
          `the ledger lock ${lockPath} has been held for over ${LOCK_WAIT_MS / 1000} s`,
        );
      }
      // Holders keep it for about a millisecond: short, growing, jittered waits.
      await delay(Math.random() * Math.min(2 + attempt, 25));
    }
  } finally {
    await unlink(draft).catch(() => undefined);
  }
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'ENOSYS', 'EXDEV']);

async function tryLink(draft: string, lockPath: string, token: string): Promise<boolean> {
  try {
    await link(draft, lockPath);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
  }
  // A file system without hard links (FAT, some network shares): exclusive create, then fill it in.
  try {
    await writeFile(lockPath, token, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function releaseLock(lockPath: string, token: string): Promise<void> {
  // Only our own: if this process stalled long enough for its lock to be broken, the lock is someone else's now.
  const current = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (current === token) await unlink(lockPath).catch(() => undefined);
}

async function breakStaleLock(lockPath: string): Promise<boolean> {
  let seen: string;
  let age: number;
  try {
    seen = await readFile(lockPath, 'utf8');
    age = Date.now() - (await stat(lockPath)).mtimeMs;
  } catch {
    return true; // gone already: try again at once
  }
  if (!isStale(seen, age)) return false;
  // Move it aside rather than unlink it, so that a lock taken since we looked is not lost: check what was moved.
  const aside = `${lockPath}.${randomUUID()}.stale`;
  try {
    await rename(lockPath, aside);
  } catch {
    return true;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== seen) {
    await rename(aside, lockPath).catch(() => undefined);
    return false;
  }
  await unlink(aside).catch(() => undefined);
  log.warn('ledger: broke a lock left by a process that is gone', { lock: seen.slice(0, 120) });
  return true;
}

function isStale(content: string, ageMs: number): boolean {
  if (ageMs > STALE_LOCK_MS) return true;
  try {
    const body = JSON.parse(content) as Partial<LockBody>;
    return (
      typeof body.pid === 'number' &&
      typeof body.host === 'string' &&
      !isProcessAlive(`${body.pid}@${body.host}`)
    );
  } catch {
    // Being written right now (created, not yet filled): wait for it.
    return false;
  }
}
