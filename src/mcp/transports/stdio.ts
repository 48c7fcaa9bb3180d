/** MCP over stdio: the way every desktop and IDE client starts this server. */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { startApp } from '../../app/app.js';
import { currentPlatform, loadConfig } from '../../app/config.js';
import { stdioSession } from '../../app/session.js';
import { log, setLogLevel } from '../../core/log.js';
import { VERSION } from '../../core/version.js';
import { buildServer } from '../server.js';

export async function serveStdio(options: { simulate: boolean }): Promise<void> {
  const config = loadConfig(currentPlatform(), options.simulate ? { simulate: true } : {});
  setLogLevel(config.logLevel);
  const app = await startApp(config);
  const server = buildServer(app, stdioSession(app.services.allowedDirs));
  let closing = false;
  const shutdown = async (reason: string) => {
    if (closing) return;
    closing = true;
    log.info('shutting down', { reason });
    await server.close().catch(() => {});
    await app.close().catch(() => {});
    process.exit(0);
  };
  server.onclose = () => void shutdown('client closed the connection');
  process.stdin.once('end', () => void shutdown('stdin closed'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  await server.connect(new StdioServerTransport());
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
