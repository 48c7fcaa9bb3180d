/**
 * Logs go to stderr, one line each: stdout carries JSON-RPC only. Every line passes through `redact`.
 */
import { redact, stripControls } from './redact.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

let threshold: LogLevel = 'info';
let sink: (line: string) => void = (line) => process.stderr.write(line);

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/** Tests capture log lines to prove that no secret reaches them. */
export function setLogSink(write: (line: string) => void): () => void {
  const previous = sink;
  sink = write;
  return () => {
    sink = previous;
  };
}

function emit(level: Exclude<LogLevel, 'silent'>, message: string, fields?: Record<string, unknown>): void {
  if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(threshold)) return;
  const extra =
    fields === undefined
      ? ''
      : Object.entries(fields)
          .filter(([, v]) => v !== undefined)
          // A value from outside (an upstream message, a file name) cannot start a line of its own.
          .map(([k, v]) => ` ${k}=${typeof v === 'string' ? stripControls(v) : JSON.stringify(v)}`)
          .join('');
  sink(`${redact(`seedance-mcp ${level}: ${message}${extra}`)}\n`);
}

export const log = {
  debug: (message: string, fields?: Record<string, unknown>) => emit('debug', message, fields),
  info: (message: string, fields?: Record<string, unknown>) => emit('info', message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => emit('warn', message, fields),
  error: (message: string, fields?: Record<string, unknown>) => emit('error', message, fields),
};
