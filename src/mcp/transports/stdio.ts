/** MCP over stdio: the way every desktop and IDE client starts this server. */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { startApp } from '../../app/app.js';
import { currentPlatform, loadConfig } from '../../app/config.js';
import { stdioSession } from '../../app/session.js';
import { log, setLogLevel } from '../../core/log.js';
import { VERSION } from '../../core/version.js';
import { buildServer } from '../server.js';

/**
 * How long closing stdin or SIGTERM waits for submissions whose POST is not yet answered (Apiframe answers one in
 * well under a second). MCP clients such as the SDK's own give a server 2 s after closing stdin, then SIGTERM, then
 * SIGKILL 2 s later: 3 s fits inside that with time left for the answers to go out. A submission still unanswered
 * then is resumed by the next start.
 */
const SHUTDOWN_GRACE_MS = 3_000;
/**
 * Then, how long the answers of the calls that shutdown ended may take to go out (milliseconds, in practice). A call
 * busy with something else (an upload) is not waited for: its upload is harmless to repeat.
 */
const ANSWER_WAIT_MS = 500;

export async function serveStdio(options: { simulate: boolean }): Promise<void> {
  const config = loadConfig(currentPlatform(), options.simulate ? { simulate: true } : {});
  setLogLevel(config.logLevel);
  const app = await startApp(config);
  const server = buildServer(app, stdioSession(app.services.allowedDirs));
  const { services } = app;
  const transport = new StdioServerTransport();
  const calls = callsInFlight(transport);
  let closing = false;
  const shutdown = async (reason: string) => {
    if (closing) return;
    closing = true;
    log.info('shutting down', { reason, callsInFlight: calls.count() });
    // Submissions get their job ids recorded, waits end with answers naming their jobs, and those answers go out.
    await services.jobs.shutdown(SHUTDOWN_GRACE_MS).catch(() => {});
    await calls.answered(ANSWER_WAIT_MS);
    await server.close().catch(() => {});
    await app.close().catch(() => {});
    process.exit(0);
  };
  server.onclose = () => void shutdown('client closed the connection');
  process.stdin.once('end', () => void shutdown('stdin closed'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  // A client that has gone leaves stdout closed: answers written then are lost, which must not crash the shutdown.
  process.stdout.on('error', (error) => log.debug('stdout closed', { error: String(error) }));
  await server.connect(transport);
  calls.watch();
  if (config.simulate) {
    log.info('serving on stdio against the built-in simulator: no key, no network, no cost', {
      version: VERSION,
    });
  } else if (config.apiKey === undefined) {
    log.warn(
      'APIFRAME_API_KEY is not set: estimate_cost works, the other tools will say how to set it (or start with --simulate)',
    );
  } else {
    log.info('serving on stdio', { version: VERSION, baseUrl: config.baseUrl, outputDir: config.outputDir });
  }
  app.pickUpOrphans();
}

/** Tool calls received and not yet answered, so that a shutdown sends their answers before it exits. */
function callsInFlight(transport: StdioServerTransport) {
  const pending = new Set<string | number>();
  let drained: (() => void) | undefined;
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage) => {
    await send(message);
    if ('id' in message && message.id !== undefined && !('method' in message) && pending.delete(message.id)) {
      if (pending.size === 0) drained?.();
    }
  };
  return {
    count: () => pending.size,
    /** Called once connected: the server has set the transport's message handler by then. */
    watch() {
      const receive = transport.onmessage;
      transport.onmessage = (message: JSONRPCMessage) => {
        if (
          'method' in message &&
          'id' in message &&
          message.method === 'tools/call' &&
          message.id !== undefined
        )
          pending.add(message.id);
        receive?.(message);
      };
    },
    answered(timeoutMs: number): Promise<void> {
      if (pending.size === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}
