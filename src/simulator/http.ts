/** HTTP plumbing of the simulator: Apiframe's error answers, JSON bodies, headers, and the exchange log. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as z from 'zod';
import { formatPath } from '../domain/params.js';
import type { Fault, SimulatorRoute } from './faults.js';

export interface RecordedExchange {
  route: SimulatorRoute | 'control' | 'unknown';
  method: string;
  path: string;
  status: number | undefined;
  idempotencyKey: string | undefined;
  requestBody: unknown;
  responseBody: unknown;
  fault: Fault['kind'] | undefined;
}

/** Thrown by a route handler: answered as `status` with `body`. */
export class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error));
  }
}

const MAX_JSON_BYTES = 1024 * 1024;

export function send(res: ServerResponse, status: number, body: unknown, entry: RecordedExchange): void {
  entry.status = status;
  entry.responseBody = body;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** Waits `ms`, or until the client goes away. */
export function holdBack(res: ServerResponse, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export async function readJson(req: IncomingMessage, entry: RecordedExchange): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES) throw new HttpFailure(413, { error: 'Request body too large' });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    entry.requestBody = body;
    return body;
  } catch {
    throw new HttpFailure(400, { error: 'Invalid JSON body' });
  }
}

export function zodDetails(error: z.ZodError): Record<string, string[]> {
  const details: Record<string, string[]> = {};
  const add = (path: string, message: string) => {
    const list = details[path] ?? [];
    list.push(message);
    details[path] = list;
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add(dotted([...issue.path, key]), 'Unrecognized key');
    } else {
      add(dotted(issue.path) || '(root)', issue.message);
    }
  }
  return details;
}

/** Apiframe keys `details` by JSON path in dotted form: `seedanceParams.reference_image_urls.3`. */
function dotted(path: readonly PropertyKey[]): string {
  return formatPath(path).replace(/\[(\d+)\]/g, '.$1');
}
