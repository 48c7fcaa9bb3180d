/** `seedance-mcp doctor`, the built binary, against the simulator: exit 0 only when all is well, one line per check. */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { WireSeedanceParams, wireBody } from '../src/domain/params.js';
import { estimate } from '../src/domain/pricing.js';
import { requestHash } from '../src/domain/request-hash.js';
import { LEDGER_FILE, openSqliteLedger } from '../src/ledger/index.js';
import { PATH_WITH_THIS_NODE } from './helpers/installed.js';
import { testDatabase } from './helpers/postgres.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';

const BIN = new URL('../dist/cli.js', import.meta.url).pathname;
const run = promisify(execFile);

const made: string[] = [];
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'seedance-doctor-')));
  made.push(dir);
  return dir;
}

async function doctor(env: Record<string, string>, where: { home?: string; cwd?: string } = {}) {
  const home = where.home ?? (await tempDir());
  const result = await run(process.execPath, [BIN, 'doctor'], {
    cwd: where.cwd ?? home,
    env: { PATH: PATH_WITH_THIS_NODE, HOME: home, ...env },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
  const line = (label: string) => result.stdout.split('\n').find((l) => l.slice(5).startsWith(label)) ?? '';
  return { ...result, home, line };
}

describe('seedance-mcp doctor', () => {
  const env = useSimulator();

  it('with a good key: every check ok, the balance shown, the client files that name the server listed, exit 0', async () => {
    const sim = await env.start({ credits: 4321 });
    const home = await tempDir();
    await mkdir(join(home, '.cursor'), { recursive: true });
    await writeFile(
      join(home, '.cursor', 'mcp.json'),
      JSON.stringify({ mcpServers: { videos: { command: 'npx', args: ['-y', 'seedance-mcp'] } } }),
    );
    const result = await doctor(
      {
        APIFRAME_API_KEY: TEST_KEY,
        APIFRAME_BASE_URL: sim.url,
        SEEDANCE_BUDGET_CREDITS: '300',
        SEEDANCE_STATE_DIR: join(home, 'state'),
        SEEDANCE_OUTPUT_DIR: join(home, 'out'),
      },
      { home },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.line('Node.js')).toMatch(/^ok +Node\.js +\d+\.\d+\.\d+ \(needs 22\.13 or later\)$/);
    expect(result.line('Apiframe key')).toMatch(
      /^ok .*accepted by http:\/\/127\.0\.0\.1:\d+; balance 4321 credits/,
    );
    expect(result.line('State folder')).toMatch(
      /^ok .*writable; ledger healthy \(sqlite at \S+\/state\/ledger\.db\), 0 credits spent so far, 300 of 300 credits left/,
    );
    expect(result.line('Output folder')).toMatch(/^ok .*\/out: writable/);
    expect(result.line('Allowed folders')).toMatch(/^ok /);
    expect(result.line('Price table')).toMatch(/^ok +Price table +built-in .*720p 4/);
    // Found by its command line under another name.
    expect(result.line('cursor (user)')).toMatch(/^ok .*\.cursor\/mcp\.json names "videos"$/);
    expect(result.stdout).toMatch(/All is well\.\n$/);
    expect(result.stdout).not.toContain(TEST_KEY);
    expect(sim.exchangesFor('me')).toHaveLength(1);
  });

  it('warns of price drift: a learned rate that disagrees with the published one', async () => {
    const sim = await env.start();
    const home = await tempDir();
    const stateDir = join(home, 'state');
    await mkdir(stateDir, { recursive: true });
    // One 5 s 720p seedance-2 video (published at 4 credits/s) charged 25 credits: 5 credits/s.
    const ledger = openSqliteLedger(join(stateDir, LEDGER_FILE), { budgetLimit: null, period: 'total' });
    const params = WireSeedanceParams.parse({ duration: 5, resolution: '720p' });
    const body = wireBody({ prompt: 'drifted', params });
    const outcome = await ledger.reserve({
      requestHash: requestHash(body),
      request: body,
      estimate: estimate(params),
      newJob: false,
    });
    if (outcome.kind !== 'reserved') throw new Error(`reserved expected, got ${outcome.kind}`);
    await ledger.markSubmitted(outcome.record.key, 'job-drift');
    await ledger.updateJob('job-drift', { status: 'COMPLETED', progress: 100, creditCost: 25 });
    await ledger.close();
    const result = await doctor(
      { APIFRAME_API_KEY: TEST_KEY, APIFRAME_BASE_URL: sim.url, SEEDANCE_STATE_DIR: stateDir },
      { home },
    );
    expect(result.line('Price table')).toMatch(
      /^warn +Price table .*PRICE DRIFT .*seedance-2 720p: published 4\/s, charged 5\/s over 1 charge$/,
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('lists a client file naming the server, and fails on a key written into a project file', async () => {
    const sim = await env.start();
    const project = await tempDir();
    await writeFile(
      join(project, '.mcp.json'),
      JSON.stringify({ mcpServers: { seedance: { command: 'npx', env: { APIFRAME_API_KEY: TEST_KEY } } } }),
    );
    const result = await doctor({ APIFRAME_API_KEY: TEST_KEY, APIFRAME_BASE_URL: sim.url }, { cwd: project });
    expect(result.code).toBe(1);
    expect(result.line('claude-code (project)')).toMatch(
      /^fail .*\.mcp\.json names "seedance" with the key written in it, in a file usually committed/,
    );
    expect(result.stdout).not.toContain(TEST_KEY);
  });

  it('with SEEDANCE_LEDGER_URL: checks the PostgreSQL ledger the server would use, not a file', async () => {
    const sim = await env.start();
    const database = await testDatabase();
    try {
      const home = await tempDir();
      const result = await doctor({
        APIFRAME_API_KEY: TEST_KEY,
        APIFRAME_BASE_URL: sim.url,
        SEEDANCE_STATE_DIR: join(home, 'state'),
        SEEDANCE_OUTPUT_DIR: join(home, 'out'),
        SEEDANCE_LEDGER_URL: database.url,
      });
      expect(result.line('State folder')).toMatch(/^ok .*ledger healthy \(postgres at /);
      expect(result.stdout).not.toContain(LEDGER_FILE);
    } finally {
      await database.drop();
    }
  });

  it('with a key Apiframe refuses: a non-zero exit and a line saying so', async () => {
    const sim = await env.start();
    const result = await doctor({ APIFRAME_API_KEY: 'not_a_key', APIFRAME_BASE_URL: sim.url });
    expect(result.code).toBe(1);
    expect(result.line('Apiframe key')).toMatch(
      /^fail +Apiframe key +not accepted by http:\/\/127\.0\.0\.1:\d+: .+/,
    );
    expect(result.stdout).toMatch(/1 problem to fix\.\n$/);
  });

  it('with a damaged ledger: the state folder line fails, saying what is wrong and what to do', async () => {
    const sim = await env.start();
    const home = await tempDir();
    await mkdir(join(home, 'state'), { recursive: true });
    await writeFile(
      join(home, 'state', 'ledger.db'),
      'this is not a database, but it is long enough to look like one.',
    );
    const result = await doctor(
      { APIFRAME_API_KEY: TEST_KEY, APIFRAME_BASE_URL: sim.url, SEEDANCE_STATE_DIR: join(home, 'state') },
      { home },
    );
    expect(result.code).toBe(1);
    expect(result.line('State folder')).toMatch(/^fail +State folder +.*ledger\.db.{10,}/);
  });

  it('without a key: fails naming APIFRAME_API_KEY; a malformed setting fails naming it', async () => {
    const noKey = await doctor({});
    expect(noKey.code).toBe(1);
    expect(noKey.line('Apiframe key')).toMatch(/^fail .*APIFRAME_API_KEY is not set/);
    const malformed = await doctor({ SEEDANCE_BUDGET_CREDITS: 'lots' });
    expect(malformed.code).toBe(1);
    expect(malformed.line('Settings')).toMatch(/^fail .*SEEDANCE_BUDGET_CREDITS: must be a whole number/);
  });
});
