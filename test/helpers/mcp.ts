/**
 * The real MCP server, built exactly as the binary builds it, connected to the SDK's own Client through an
 * in-memory transport, against a real simulator on loopback. Polling and backoff are shortened so that simulated
 * jobs finish in milliseconds; nothing else differs from production.
 */
import { mkdir, mkdtemp, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import {
  type CallToolResult,
  ListRootsRequestSchema,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { afterEach, expect } from 'vitest';
import { startApp } from '../../src/app/app.js';
import { type Config, loadConfig } from '../../src/app/config.js';
import type { ServiceOverrides, Services } from '../../src/app/services.js';
import { stdioSession } from '../../src/app/session.js';
import type { Ledger } from '../../src/ledger/types.js';
import { buildServer } from '../../src/mcp/server.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/simulator/server.js';
import { allContractProblems } from './contract.js';
import { FAST, TEST_KEY } from './simulator.js';
import { removeDir } from './temp.js';

export interface HarnessOptions {
  sim?: SimulatorOptions;
  config?: Partial<Config>;
  /** Folders the client declares as its MCP roots (none: the client has no roots capability). */
  roots?: (dirs: Harness['dirs']) => string[];
  ledger?: Ledger;
  /** Replaces parts of FAST_SERVICES (a poll schedule with batching, say). */
  services?: Partial<ServiceOverrides>;
  /** Start without a simulator (for the no-key tests). */
  noSimulator?: boolean;
}

export interface Harness {
  client: Client;
  sim: Simulator;
  services: Services;
  /** Temporary folders: `work` is the one allowed folder. */
  dirs: { root: string; work: string; output: string; state: string };
  call(name: string, args: Record<string, unknown>, options?: CallOptions): Promise<CallToolResult>;
  /** Contract problems in every exchange so far (must be empty). */
  contractProblems(): string[];
  close(): Promise<void>;
}

export interface CallOptions {
  onprogress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

export const FAST_SERVICES = {
  poll: { firstMs: 5, factor: 1.5, capMs: 20 },
  assetPollMs: { first: 2, cap: 10 },
  retryBaseMs: 1,
  retryCapMs: 5,
  claimPollMs: 5,
};

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'seedance-mcp-test-')));
  const dirs = { root, work: join(root, 'work'), output: join(root, 'output'), state: join(root, 'state') };
  await mkdir(dirs.work, { recursive: true });
  const sim = await startSimulator({ ...FAST, ...options.sim });
  const config = loadConfig(
    { platform: process.platform, home: root, env: {} },
    {
      apiKey: TEST_KEY,
      baseUrl: options.noSimulator ? 'http://127.0.0.1:9' : sim.url,
      outputDir: dirs.output,
      stateDir: dirs.state,
      allowedDirs: [dirs.work],
      timeoutMs: 5_000,
      maxRetries: 2,
      ...options.config,
    },
  );
  const app = await startApp(config, {
    ...FAST_SERVICES,
    ...options.services,
    ...(options.ledger ? { ledger: options.ledger } : {}),
  });
  const { services } = app;
  // The catalog is read at start and never waited for by a call; tests wait, so what they see does not race it, and
  // count from there what the calls send (the catalog's exchange is held to the spec in test/simulator.test.ts).
  await services.catalog.firstRead;
  for (const problem of allContractProblems(sim.exchanges)) throw new Error(problem);
  sim.exchanges.length = 0;
  const server = buildServer(app, stdioSession(services.allowedDirs));
  const client = new Client(
    { name: 'seedance-mcp-tests', version: '1.0.0' },
    { capabilities: options.roots === undefined ? {} : { roots: { listChanged: true } } },
  );
  if (options.roots !== undefined) {
    const roots = options.roots(dirs);
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: roots.map((dir) => ({ uri: pathToFileURL(dir).href, name: dir })),
    }));
  }
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(serverTransport), client.connect(clientTransport)]);
  // listTools caches the output schemas, so that every callTool below is checked against them by the SDK itself.
  await client.listTools();
  return {
    client,
    sim,
    services,
    dirs,
    async call(name, args, callOptions = {}) {
      return (await client.callTool({ name, arguments: args }, undefined, {
        ...(callOptions.onprogress ? { onprogress: callOptions.onprogress } : {}),
        ...(callOptions.signal ? { signal: callOptions.signal } : {}),
      })) as CallToolResult;
    },
    contractProblems: () => allContractProblems(sim.exchanges),
    async close() {
      await client.close();
      await server.close();
      await app.close();
      await sim.close();
      await removeDir(root);
    },
  };
}

/** The text of a result's first block: what a model reads. */
/**
 * A harness per test, closed after it; the test fails if any exchange with the simulator broke Apiframe's contract.
 */
export function useHarness(): (options?: HarnessOptions) => Promise<Harness> {
  let current: Harness | undefined;
  afterEach(async () => {
    const h = current;
    current = undefined;
    if (h === undefined) return;
    const problems = h.contractProblems();
    await h.close();
    expect(problems).toEqual([]);
  });
  return async (options = {}) => {
    current = await startHarness(options);
    return current;
  };
}

export function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === 'text' ? first.text : '';
}

export function structuredOf<T = Record<string, unknown>>(result: CallToolResult): T {
  if (result.structuredContent === undefined) throw new Error(`no structured content: ${textOf(result)}`);
  return result.structuredContent as T;
}
