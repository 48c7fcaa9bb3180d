/**
 * Built servers (`dist/cli.js`) over stdio, started as an MCP client starts them, with the SDK's client: for the
 * tests whose promises need real processes (killed, restarted, several sharing a ledger). Every server a test starts
 * is closed after it.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach } from 'vitest';
import type { Simulator } from '../../src/simulator/server.js';
import { TEST_KEY } from './simulator.js';

export const BIN = new URL('../../dist/cli.js', import.meta.url).pathname;

export interface Running {
  client: Client;
  transport: StdioClientTransport;
  /** Settles when the process has gone. */
  closed: Promise<void>;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
}

/** How a server is started: by Node itself, or through a wrapper (a private mount namespace, say). */
export interface Launch {
  command: string;
  args: string[];
}

export const PLAIN: Launch = { command: process.execPath, args: [BIN] };

/**
 * Returns `start(sim, home, env, launch)`: one server against `sim`, its ledger, output and allowed folder under
 * `home` (which processes of one test may share), `env` on top.
 */
export function useStdioServers(clientName: string) {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.client.close().catch(() => undefined)));
  });
  return async function start(
    sim: Simulator,
    home: string,
    env: Record<string, string> = {},
    launch: Launch = PLAIN,
  ): Promise<Running> {
    const transport = new StdioClientTransport({
      command: launch.command,
      args: launch.args,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        APIFRAME_API_KEY: TEST_KEY,
        APIFRAME_BASE_URL: sim.url,
        SEEDANCE_OUTPUT_DIR: join(home, 'out'),
        SEEDANCE_STATE_DIR: join(home, 'state'),
        SEEDANCE_ALLOWED_DIRS: home,
        SEEDANCE_LOG_LEVEL: 'warn',
        ...env,
      },
      stderr: 'pipe',
    });
    const client = new Client({ name: clientName, version: '1.0.0' });
    const closed = new Promise<void>((resolve) => {
      client.onclose = () => resolve();
    });
    await client.connect(transport);
    const server: Running = {
      client,
      transport,
      closed,
      call: async (name, args) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    };
    running.push(server);
    return server;
  };
}

/** SIGKILL: the process gets no chance to tidy up. */
export async function kill9(server: Running): Promise<void> {
  const pid = server.transport.pid;
  if (pid === null) throw new Error('the server is not running');
  process.kill(pid, 'SIGKILL');
  await server.closed;
}
