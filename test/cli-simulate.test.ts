/**
 * `seedance-mcp simulate` as a user runs it: the built binary, its one JSON line, the Seedance page's curl example
 * against it (sent with Node's own client), and the finished video read by mediabunny (the pure-JavaScript media library the
 * product measures media with): a real H.264 video of the requested length and shape.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { probeFile } from './helpers/media.js';
import { TEST_KEY } from './helpers/simulator.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a non-zero exit is reported, not thrown (a missing binary is thrown: ENOENT). */
function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

const children: ChildProcess[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }),
  );
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

interface Started {
  child: ChildProcess;
  firstLine: string;
  /** Everything written to stdout after the first line, so far. */
  rest(): string[];
  stderr(): string;
}

/** Starts `seedance-mcp simulate` and resolves with its first stdout line; fails if it exits before printing one. */
async function startSimulate(args: string[] = ['--port', '0']): Promise<Started> {
  const child = spawn(process.execPath, [CLI, 'simulate', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = new Promise<string>((resolve, reject) => {
    rl.on('line', (line) => {
      lines.push(line);
      if (lines.length === 1) resolve(line);
    });
    child.once('exit', (code) =>
      reject(new Error(`simulate exited (${code}) before printing its URL; stderr:\n${stderr}`)),
    );
  });
  const firstLine = await first;
  return { child, firstLine, rest: () => lines.slice(1), stderr: () => stderr };
}

describe('seedance-mcp simulate (built binary)', () => {
  it('prints exactly one JSON line with its loopback URL, then answers the Seedance page curl example', async () => {
    const sim = await startSimulate();
    expect(sim.firstLine).toMatch(/^\{"url":"http:\/\/127\.0\.0\.1:\d+"\}$/);
    const announced = JSON.parse(sim.firstLine) as { url: string };
    expect(Object.keys(announced)).toEqual(['url']);
    const { url } = announced;
    const port = Number(new URL(url).port);
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThanOrEqual(65_535);

    // The page's curl example, sent as it is (method, headers, body) with Node's own client, so that the test needs
    // nothing from the system.
    const prompt =
      'A paper boat drifting down a rain-soaked street at dusk, cinematic, shallow depth of field';
    const example = await fetch(`${url}/v2/videos/generate`, {
      method: 'POST',
      headers: { 'X-API-Key': TEST_KEY, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        prompt,
        model: 'seedance-2',
        seedanceParams: { duration: 5, resolution: '720p', aspect_ratio: '16:9' },
      }),
    });
    expect(example.status).toBe(202);
    const accepted = (await example.json()) as { jobId: string; status: string };
    expect(Object.keys(accepted).sort()).toEqual(['jobId', 'status']);
    expect(accepted.jobId).toMatch(UUID);
    expect(accepted.status).toBe('QUEUED');

    // Finish it now through the control API instead of waiting out the simulated render time.
    const forced = await fetch(`${url}/__simulator/jobs/${accepted.jobId}/complete`, { method: 'POST' });
    expect(forced.status).toBe(200);
    const jobRes = await fetch(`${url}/v2/jobs/${accepted.jobId}`, { headers: { 'X-API-Key': TEST_KEY } });
    expect(jobRes.status).toBe(200);
    const job = (await jobRes.json()) as {
      status: string;
      creditCost: number;
      result: { videoUrl: string };
    };
    expect(job.status).toBe('COMPLETED');
    expect(job.creditCost).toBe(20);
    expect(job.result.videoUrl.startsWith(`${url}/`)).toBe(true);

    const videoRes = await fetch(job.result.videoUrl);
    expect(videoRes.status).toBe(200);
    expect(videoRes.headers.get('content-type')).toBe('video/mp4');
    const dir = await mkdtemp(join(tmpdir(), 'seedance-cli-simulate-'));
    tempDirs.push(dir);
    const file = join(dir, 'video.mp4');
    await writeFile(file, Buffer.from(await videoRes.arrayBuffer()));

    const media = await probeFile('video', file);
    expect(media.codec).toBe('avc');
    expect(media.seconds).toBeCloseTo(5, 1);
    expect((media.width ?? 0) / (media.height ?? 1)).toBeCloseTo(16 / 9, 1);

    // stdout carried that one line and nothing else; the log went to stderr.
    expect(sim.rest()).toEqual([]);
    expect(sim.stderr()).toContain('simulator listening');
  });

  it('listens on the port it is given', async () => {
    // Find a free port by letting a first simulator pick one, then stop it and ask for that port.
    const first = await startSimulate();
    const port = Number(new URL((JSON.parse(first.firstLine) as { url: string }).url).port);
    const exited = once(first.child, 'exit');
    first.child.kill('SIGTERM');
    await exited;
    const second = await startSimulate(['--port', String(port)]);
    expect(JSON.parse(second.firstLine)).toEqual({ url: `http://127.0.0.1:${port}` });
  });

  it('stops cleanly on SIGTERM while serving', async () => {
    const sim = await startSimulate();
    // Once it has answered a request, its start-up code has certainly run to the end.
    const { url } = JSON.parse(sim.firstLine) as { url: string };
    expect((await fetch(`${url}/v2/me`, { headers: { 'X-API-Key': TEST_KEY } })).status).toBe(200);
    const exited = once(sim.child, 'exit');
    sim.child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  });

  it('stops cleanly on SIGTERM sent as soon as the URL line is read', async () => {
    // A supervisor may stop the simulator the moment it has announced itself: by then the graceful stop must be in
    // place, or the process dies of the signal itself.
    const sim = await startSimulate();
    const exited = once(sim.child, 'exit');
    sim.child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  });

  it.each([
    ['abc', /--port must be a whole number, got "abc"/],
    ['1.5', /--port must be a whole number/],
    ['70000', /--port must be at most 65535/],
  ])('refuses --port %s with a message on stderr and a non-zero exit', async (value, message) => {
    const result = await run(process.execPath, [CLI, 'simulate', '--port', value]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('exits non-zero, saying why, when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      const result = await run(process.execPath, [CLI, 'simulate', '--port', String(port)]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/EADDRINUSE|in use/);
      expect(result.stdout).toBe('');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('refuses --port with no value and an unknown option', async () => {
    const missing = await run(process.execPath, [CLI, 'simulate', '--port']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--port/);
    const unknown = await run(process.execPath, [CLI, 'simulate', '--colour', 'blue']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/--colour/);
    expect(unknown.stdout).toBe('');
  });

  it.each(['--help', '-h'])('prints usage for %s and exits 0', async (flag) => {
    const result = await run(process.execPath, [CLI, flag]);
    expect(result.code).toBe(0);
    const usage = result.stdout + result.stderr;
    expect(usage).toMatch(/Usage:/);
    expect(usage).toMatch(/seedance-mcp simulate/);
    expect(usage).toMatch(/--port N/);
  });
});
