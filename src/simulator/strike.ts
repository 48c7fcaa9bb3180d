/** How a planned fault strikes an exchange: before the work (nothing done) or after it (the answer lost or spoiled). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Fault } from './faults.js';
import { holdBack, type RecordedExchange, send } from './http.js';

/** Faults that strike before the request is processed; true when the request is done with. */
export async function strikeBefore(
  fault: Fault,
  req: IncomingMessage,
  res: ServerResponse,
  entry: RecordedExchange,
): Promise<boolean> {
  switch (fault.kind) {
    case 'rate_limit':
      res.setHeader('retry-after', String(fault.retryAfterSeconds));
      send(res, 429, { error: 'Rate limit exceeded' }, entry);
      req.resume();
      return true;
    case 'unavailable':
      send(res, 503, { error: 'Service temporarily unavailable' }, entry);
      req.resume();
      return true;
    case 'server_error':
      send(res, 500, { error: 'Internal server error' }, entry);
      req.resume();
      return true;
    case 'reset_before':
      req.socket.destroy();
      return true;
    default:
      return false;
  }
}

/** Faults that strike after the request was processed: the work is done, the answer is lost or spoiled. */
export async function strikeAfter(
  fault: Fault,
  res: ServerResponse,
  status: number,
  body: unknown,
  entry: RecordedExchange,
): Promise<void> {
  const text = JSON.stringify(body);
  switch (fault.kind) {
    case 'reset_after':
      res.socket?.destroy();
      return;
    case 'slow':
      await holdBack(res, fault.delayMs);
      if (!res.destroyed) send(res, status, body, entry);
      return;
    case 'malformed':
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${text.slice(0, Math.max(1, Math.floor(text.length / 2)))}<html>Bad gateway`);
      return;
    case 'truncated':
      entry.status = status;
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(text)),
      });
      // Destroyed only once the headers and the first half are on the wire: destroying at once discards them, and
      // the client would see a plain connection reset instead of a cut-off body.
      res.write(text.slice(0, Math.floor(text.length / 2)), () => res.socket?.destroy());
      return;
    default:
      send(res, status, body, entry);
  }
}
