/**
 * The built binary in HTTP mode, started as an operator starts it (`seedance-mcp --http --port 0 ...`), its URL read
 * from the one JSON line it prints, and real SDK clients over StreamableHTTPClientTransport.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach } from 'vitest';

export const BIN = new URL('../../dist/cli.js', import.meta.url).pathname;

export interface HttpBinary {
  url: string;
  /** The server's origin, for /healthz and raw requests. */
  base: string;
  dir: string;
  proc: ChildProcess;
  stderr: string[];
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** Resolves once stderr has a log line matching `pattern` (one already written counts). */
  logged(pattern: RegExp): Promise<string>;
  client(token?: string, name?: string): Promise<Client>;
}

/** Starts binaries per test and stops whatever is still running after it. */
export function useHttpBinary() {
  const running: HttpBinary[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
    await Promise.all(
      running.splice(0).map(async (b) => {
        if (b.proc.exitCode === null && b.proc.signalCode === null) b.proc.kill('SIGKILL');
        await b.exited;
      }),
    );
  });
  return async (env: Record<string, string>, args: string[] = [], dir?: string): Promise<HttpBinary> => {
    const home = dir ?? (await realpath(await mkdtemp(join(tmpdir(), 'seedance-http-'))));
    const proc = spawn(process.execPath, [BIN, '--http', '--port', '0', ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        SEEDANCE_OUTPUT_DIR: join(home, 'out'),
        SEEDANCE_STATE_DIR: join(home, 'state'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    proc.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const line = await new Promise<string>((resolve, reject) => {
      if (proc.stdout === null) throw new Error('no stdout pipe');
      const lines = createInterface({ input: proc.stdout });
      lines.once('line', resolve);
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr.join('')}`)));
    });
    const url = (JSON.parse(line) as { url: string }).url;
    const binary: HttpBinary = {
      url,
      base: new URL(url).origin,
      dir: home,
      proc,
      stderr,
      exited,
      logged(pattern) {
        const find = () =>
          stderr
            .join('')
            .split('\n')
            .find((line) => pattern.test(line));
        return new Promise((resolve, reject) => {
          const seen = find();
          if (seen !== undefined) return resolve(seen);
          const onData = () => {
            const line = find();
            if (line === undefined) return;
            proc.stderr?.off('data', onData);
            resolve(line);
          };
          // After the collecting listener above, so the chunk that matches is already in `stderr`.
          proc.stderr?.on('data', onData);
          void exited.then((code) => reject(new Error(`exited ${code} before logging ${pattern}`)));
        });
      },
      async client(token, name = 'http-test') {
        const transport = new StreamableHTTPClientTransport(new URL(url), {
          ...(token === undefined ? {} : { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
        });
        const client = new Client({ name, version: '1.0.0' });
        await client.connect(transport);
        clients.push(client);
        return client;
      },
    };
    running.push(binary);
    return binary;
  };
}
