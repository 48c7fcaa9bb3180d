/**
 * The `logging` capability: the events written to stderr (core/log.ts, redacted there) also go to the client as
 * `notifications/message`, at the level the client set with `logging/setLevel`, or until then at the server's own
 * stderr level (SEEDANCE_LOG_LEVEL).
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  type LoggingLevel,
  LoggingLevelSchema,
  SetLevelRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { type EventLevel, type LogLevel, onLog } from '../core/log.js';

const MCP_LEVEL: Record<EventLevel, LoggingLevel> = {
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  error: 'error',
};
const SEVERITY = LoggingLevelSchema.options;

export function forwardLogs(server: Server, serverLevel: LogLevel): void {
  // 'silent' sends nothing until the client asks: a level above every event's.
  let minimum: LoggingLevel = serverLevel === 'silent' ? 'emergency' : MCP_LEVEL[serverLevel];
  server.setRequestHandler(SetLevelRequestSchema, async (request) => {
    minimum = request.params.level;
    return {};
  });
  server.oninitialized = () => {
    const stop = onLog(({ level, text }) => {
      const mcpLevel = MCP_LEVEL[level];
      if (SEVERITY.indexOf(mcpLevel) < SEVERITY.indexOf(minimum)) return;
      server.sendLoggingMessage({ level: mcpLevel, logger: 'seedance-mcp', data: text }).catch(() => {
        // The connection is gone (this listener outlived its session): stop. Not logged, which would come back here.
        stop();
      });
    });
  };
}
