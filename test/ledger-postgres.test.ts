/**
 * What only the PostgreSQL ledger promises: several hosts (here, several ledgers with pools of their own, and real
 * processes) on one database migrate once, share one budget, download once, take over the jobs of a host that died
 * by the database's clock, and a lost connection fails a call with a typed error and heals by itself.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LedgerUnavailableError } from '../src/core/errors.js';
import { WireSeedanceParams, wireBody } from '../src/domain/params.js';
import { estimate } from '../src/domain/pricing.js';
import { requestHash } from '../src/domain/request-hash.js';
import { MIGRATIONS } from '../src/ledger/postgres-schema.js';
import { openPostgresLedger, type PostgresLedgerOptions } from '../src/ledger/postgres-store.js';
import type { Ledger, LedgerOptions, ReserveRequest } from '../src/ledger/types.js';
import { type PostgresServer, startPostgres, testDatabase, withClient } from './helpers/postgres.js';
import { waitUntil } from './helpers/wait.js';

const ledgers: Ledger[] = [];
const databases: { drop(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(ledgers.splice(0).map((l) => l.close()));
  await Promise.all(databases.splice(0).map((d) => d.drop()));
});

async function freshDatabase(): Promise<string> {
  const database = await testDatabase();
  databases.push(database);
  return database.url;
}

function request(prompt: string, duration = 5): ReserveRequest {
  const params = WireSeedanceParams.parse({ duration, resolution: '720p' });
  const body = wireBody({ prompt, params });
  return { requestHash: requestHash(body), request: body, estimate: estimate(params), newJob: false };
}

const options: LedgerOptions = { budgetLimit: 100, period: 'total' };

async function openHosts(
  url: string,
  count: number,
  extra: Partial<PostgresLedgerOptions> = {},
): Promise<Ledger[]> {
  const opened = await Promise.all(
    Array.from({ length: count }, (_, n) =>
      openPostgresLedger(url, { ...options, owner: `${n}@host-${n}`, ...extra }),
    ),
  );
  ledgers.push(...opened);
  return opened;
}

describe('postgres ledger shared by hosts', () => {
  it('migrates once when several hosts start together', async () => {
    const url = await freshDatabase();
    await openHosts(url, 4);
    const { rows } = await withClient(url, (c) =>
      c.query<{ version: number }>('SELECT version FROM seedance_migrations ORDER BY version'),
    );
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('migrates a database from each earlier schema version, and refuses one newer than it knows', async () => {
    for (const [i, earlier] of MIGRATIONS.entries()) {
      const url = await freshDatabase();
      await withClient(url, async (c) => {
        await c.query(`CREATE TABLE seedance_migrations (
          version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
        for (const migration of MIGRATIONS.slice(0, i + 1)) {
          await c.query(migration.sql);
          await c.query('INSERT INTO seedance_migrations (version, name) VALUES ($1, $2)', [
            migration.version,
            migration.name,
          ]);
        }
        const [host] = await openHosts(url, 1);
        expect((await host?.reserve(request(`after version ${earlier.version}`)))?.kind).toBe('reserved');
        const { rows } = await c.query<{ version: number }>(
          'SELECT version FROM seedance_migrations ORDER BY version',
        );
        expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
        await c.query("INSERT INTO seedance_migrations (version, name) VALUES ($1, 'future')", [
          earlier.version + 1000,
        ]);
      });
      // A newer schema is never written to: every call, and health(), names it.
      const [stale] = await openHosts(url, 1);
      expect(await stale?.health()).toMatchObject({
        ok: false,
        problem: /newer than this seedance-mcp knows/,
      });
      await expect(stale?.reserve(request('on a newer schema'))).rejects.toMatchObject({
        code: 'ledger_unavailable',
      });
    }
  });

  it('opens on a database it cannot reach, names the problem on every call without the password, and sends nothing', async () => {
    const ledger = await openPostgresLedger(
      'postgres://seedance:pw-never-shown@127.0.0.1:1/seedance',
      options,
    );
    ledgers.push(ledger);
    const health = await ledger.health();
    expect(health).toMatchObject({
      ok: false,
      store: 'postgres',
      location: 'postgres://127.0.0.1:1/seedance',
    });
    const refused = await ledger.reserve(request('nowhere to record it')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LedgerUnavailableError);
    expect(
      JSON.stringify([health, (refused as Error).message, (refused as LedgerUnavailableError).recovery]),
    ).not.toMatch(/pw-never-shown/);
  });

  it('takes what the URL leaves out from the usual PG* variables', async () => {
    const given = new URL(await freshDatabase());
    const names = ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE'] as const;
    const saved = names.map((name) => process.env[name]);
    Object.assign(process.env, {
      PGHOST: given.hostname,
      PGPORT: given.port,
      PGUSER: given.username,
      PGDATABASE: given.pathname.slice(1),
    });
    try {
      const ledger = await openPostgresLedger('postgres://', options);
      ledgers.push(ledger);
      expect(await ledger.health()).toMatchObject({ ok: true, store: 'postgres' });
      expect((await ledger.reserve(request('found by PG* variables'))).kind).toBe('reserved');
    } finally {
      for (const [i, name] of names.entries()) {
        const value = saved[i];
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('of many reservations racing from four hosts, exactly the affordable ones pass', async () => {
    const hosts = await openHosts(await freshDatabase(), 4);
    const outcomes = await Promise.all(
      hosts.flatMap((ledger, n) => [0, 1, 2].map((i) => ledger.reserve(request(`host ${n} video ${i}`)))),
    );
    expect(outcomes.filter((o) => o.kind === 'reserved')).toHaveLength(5);
    expect(outcomes.filter((o) => o.kind === 'over_budget')).toHaveLength(7);
    expect(await hosts[0]?.budget()).toMatchObject({ reserved: 100, remaining: 0 });
  });

  it('attaches an identical request racing from every host to one reservation', async () => {
    const hosts = await openHosts(await freshDatabase(), 4);
    const outcomes = await Promise.all(hosts.map((ledger) => ledger.reserve(request('the same video'))));
    expect(outcomes.filter((o) => o.kind === 'reserved')).toHaveLength(1);
    // The others found it unanswered, so each may send it again, with its one key: Apiframe makes one job of it.
    const keys = new Set(outcomes.map((o) => ('record' in o ? o.record.key : '')));
    expect(keys.size).toBe(1);
    expect((await hosts[0]?.budget())?.reserved).toBe(20);
  });

  it('lets one host download a job; another sees it busy, then done; a host that left gives its claim up', async () => {
    const [one, two] = await openHosts(await freshDatabase(), 2);
    if (one === undefined || two === undefined) throw new Error('two hosts expected');
    const r = await one.reserve(request('shared download'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await one.markSubmitted(r.record.key, 'job-1');
    await two.updateJob('job-1', { status: 'COMPLETED', progress: 100, creditCost: 20 });
    const claims = await Promise.all([one.claimDownload('job-1'), two.claimDownload('job-1')]);
    expect(claims.map((c) => c.kind).sort()).toEqual(['busy', 'claimed']);
    const [winner, loser] = claims[0]?.kind === 'claimed' ? [one, two] : [two, one];
    await winner.close();
    expect(await loser.claimDownload('job-1')).toEqual({ kind: 'claimed' });
    const file = { kind: 'video' as const, path: '/v.mp4', bytes: 1, sha256: 'a', url: 'https://x/v.mp4' };
    await loser.recordDownload('job-1', [file]);
    expect(await loser.claimDownload('job-1')).toEqual({ kind: 'done', files: [file] });
  });

  it("answers for a task made by another host: found, listed, cancelled once, and its member's alone", async () => {
    const [one, two] = await openHosts(await freshDatabase(), 2);
    if (one === undefined || two === undefined) throw new Error('two hosts expected');
    const made = await one.createTask({
      taskId: 'task-on-one',
      member: 'alice',
      tool: 'generate_video',
      jobId: 'job-on-one',
      submission: 'submitted',
      warnings: [],
      result: null,
      ttlMs: 60_000,
    });
    expect(await two.getTask('task-on-one', 'alice')).toEqual(made);
    expect(await two.getTask('task-on-one', '')).toBeUndefined();
    expect((await two.listTasks('alice', 10)).tasks.map((t) => t.taskId)).toEqual(['task-on-one']);
    expect(await two.cancelTask('task-on-one', 'alice', 'stopped on two')).toBe(true);
    expect(await one.cancelTask('task-on-one', 'alice', 'stopped on one')).toBe(false);
    expect(await one.getTask('task-on-one', 'alice')).toMatchObject({ cancelMessage: 'stopped on two' });
  });

  it('refuses rows no ledger may hold: a negative charge, a job id while submitting, an unknown status', async () => {
    const url = await freshDatabase();
    const [host] = await openHosts(url, 1);
    const r = await host?.reserve(request('checked'));
    if (r?.kind !== 'reserved') throw new Error('expected a reservation');
    await withClient(url, async (c) => {
      await expect(c.query('UPDATE seedance_jobs SET charged = -5')).rejects.toThrow(/check constraint/);
      await expect(c.query("UPDATE seedance_jobs SET job_id = 'job-x'")).rejects.toThrow(/check constraint/);
      await expect(c.query("UPDATE seedance_jobs SET status = 'PAID'")).rejects.toThrow(/check constraint/);
    });
    expect(await host?.budget()).toMatchObject({ reserved: 20, remaining: 80 });
  });
});

describe('postgres ledger and a host that dies', () => {
  const WORKER = new URL('./helpers/postgres-ledger-worker.ts', import.meta.url).pathname;

  it('gives the jobs in flight of a killed host to another once its lease runs out by the database clock', async () => {
    const url = await freshDatabase();
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    expect(line.toString().trim()).toBe('submitted job-dies');
    child.kill('SIGKILL');
    await once(child, 'exit');

    const survivors = await openHosts(url, 2, { hostLeaseMs: 1_500 });
    const sweep = () => Promise.all(survivors.map((survivor) => survivor.adoptOrphans()));
    // Its lease still runs: the job is not taken from a host that may only be slow.
    expect(await sweep()).toEqual([[], []]);
    // The lease runs out by the database's clock: swept until one host finds the job.
    const taken = await waitUntil(async () => {
      const found = await sweep();
      return found.some((f) => f.length > 0) ? found : undefined;
    });
    // Taken over by exactly one of the hosts sweeping at the same moment.
    const winner = taken.findIndex((found) => found.length > 0);
    expect(taken[winner]).toMatchObject([{ jobId: 'job-dies', owner: `${winner}@host-${winner}` }]);
    expect(taken[1 - winner]).toEqual([]);
    expect(await survivors[1 - winner]?.adoptOrphans()).toEqual([]);
  });
});

describe('postgres ledger and a database that goes away', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('fails a call with a typed error while the database is down, and works again once it is back', async () => {
    const [ledger] = await Promise.all([openPostgresLedger(server.url, options)]);
    if (ledger === undefined) throw new Error('a ledger expected');
    ledgers.push(ledger);
    const first = await ledger.reserve(request('before the restart'));
    expect(first.kind).toBe('reserved');
    await server.halt();
    const refused = ledger.reserve(request('while it is down'));
    await expect(refused).rejects.toBeInstanceOf(LedgerUnavailableError);
    await expect(refused).rejects.toMatchObject({ code: 'ledger_unavailable' });
    await server.start();
    expect((await ledger.reserve(request('after the restart'))).kind).toBe('reserved');
    expect(await ledger.reserve(request('before the restart'))).toMatchObject({ kind: 'resume' });
    expect(await ledger.budget()).toMatchObject({ reserved: 40 });
    expect((await ledger.list({ limit: 10 })).records).toHaveLength(2);
  });
});
