/**
 * Logs go to stderr, one line each: stdout carries JSON-RPC only. Every line passes through `redact`. Listeners (the
 * MCP server's `notifications/message`) receive every event, whatever the stderr threshold, already redacted: each
 * decides by its own level what to pass on.
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

export type EventLevel = Exclude<LogLevel, 'silent'>;

/** One log event: `text` is the stderr line's message and fields, redacted, without the prefix. */
export interface LogEvent {
  level: EventLevel;
  text: string;
}

const listeners = new Set<(event: LogEvent) => void>();

/** Calls `listener` with every event from now on; returns the function that stops it. */
export function onLog(listener: (event: LogEvent) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Whether `level` is at least as severe as `minimum`. */
export function atLeastLevel(level: EventLevel, minimum: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(minimum);
}

function emit(level: EventLevel, message: string, fields?: Record<string, unknown>): void {
  const toStderr = atLeastLevel(level, threshold);
  if (!toStderr && listeners.size === 0) return;
  const extra =
    fields === undefined
      ? ''
      : Object.entries(fields)
          .filter(([, v]) => v !== undefined)
          // A value from outside (an upstream message, a file name) cannot start a line of its own.
          .map(([k, v]) => ` ${k}=${typeof v === 'string' ? stripControls(v) : JSON.stringify(v)}`)
          .join('');
  const text = redact(`${message}${extra}`);
  if (toStderr) sink(`seedance-mcp ${level}: ${text}\n`);
  for (const listener of listeners) listener({ level, text });
}

export const log = {
  debug: (message: string, fields?: Record<string, unknown>) => emit('debug', message, fields),
  info: (message: string, fields?: Record<string, unknown>) => emit('info', message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => emit('warn', message, fields),
  error: (message: string, fields?: Record<string, unknown>) => emit('error', message, fields),
};
