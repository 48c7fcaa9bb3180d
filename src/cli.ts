/**
 * The `seedance-mcp` command. With no arguments it serves MCP over stdio; `simulate` runs the Apiframe simulator.
 * stdout belongs to JSON-RPC (or, for `simulate`, to its one JSON line): everything else goes to stderr.
 */
import { parseArgs } from 'node:util';
import { SeedanceError } from './core/errors.js';
import { log } from './core/log.js';
import { VERSION } from './core/version.js';
import { SIMULATED, simulatedTiming } from './simulator/timing.js';

const HELP = `seedance-mcp ${VERSION}: Seedance 2.0 video generation for MCP clients, through Apiframe.

Usage:
  seedance-mcp [--simulate]     serve MCP over stdio (--simulate: against the built-in simulator, no key, no cost)
  seedance-mcp --http [--host H] [--port N] [--simulate]
                                serve MCP over Streamable HTTP at /mcp (default 127.0.0.1:8808; --port 0: any free
                                port); prints {"url": ...} once listening; GET /healthz answers without a token
  seedance-mcp simulate [options]
                                run the Apiframe simulator; prints {"url": ...} once listening
      --port N                  port on 127.0.0.1 (default 0: any free port)
      --credits N               starting credit balance (default ${SIMULATED.credits})
      --job-seconds N           time a video takes to render (default ${SIMULATED.jobSeconds})
      --asset-seconds N         time an asset takes to become Active (default ${SIMULATED.assetSeconds},
                                at most the job's)
  seedance-mcp --version | --help

Settings come from the environment; see the README.`;

function fail(message: string): never {
  process.stderr.write(`seedance-mcp: ${message}\n`);
  process.exit(2);
}

function nonNegativeInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a whole number, got "${value}"`);
  return n;
}

async function simulate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      credits: { type: 'string' },
      'job-seconds': { type: 'string' },
      'asset-seconds': { type: 'string' },
    },
    strict: true,
  });
  const port = nonNegativeInt('port', values.port, 0);
  if (port > 65_535) fail('--port must be at most 65535');
  const { startSimulator } = await import('./simulator/server.js');
  const jobSeconds = nonNegativeInt('job-seconds', values['job-seconds'], SIMULATED.jobSeconds);
  const assetSeconds =
    values['asset-seconds'] === undefined
      ? undefined
      : nonNegativeInt('asset-seconds', values['asset-seconds'], SIMULATED.assetSeconds);
  const simulator = await startSimulator({
    port,
    credits: nonNegativeInt('credits', values.credits, SIMULATED.credits),
    ...simulatedTiming(jobSeconds, assetSeconds),
  });
  // Handlers first: a supervisor may send SIGTERM the moment it reads the URL line.
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.write(`${JSON.stringify({ url: simulator.url })}\n`);
  log.info('simulator listening; any key of the form afk_... is accepted', { url: simulator.url });
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === 'simulate') return simulate(rest);
  const { values } = parseArgs({
    args: argv,
    options: {
      simulate: { type: 'boolean' },
      http: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stderr.write(`${HELP}\n`);
    return;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (values.http) {
    const port = nonNegativeInt('port', values.port, 8808);
    if (port > 65_535) fail('--port must be at most 65535');
    const { serveHttp } = await import('./mcp/transports/http.js');
    return serveHttp({ simulate: values.simulate === true, host: values.host ?? '127.0.0.1', port });
  }
  if (values.host !== undefined || values.port !== undefined) fail('--host and --port go with --http');
  const { serveStdio } = await import('./mcp/transports/stdio.js');
  await serveStdio({ simulate: values.simulate === true });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof SeedanceError) fail(`${error.message}\n${error.recovery}`);
  if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    fail(`${error.message}\n\n${HELP}`);
  }
  fail(error instanceof Error ? (error.stack ?? error.message) : String(error));
});
