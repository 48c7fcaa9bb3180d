/**
 * A small HTTP server that plays a misbehaving Apiframe or CDN: each test says what every path answers. Loopback
 * only; the handler sees the raw request, so tests can also check what was (not) sent.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Hostile {
  url: string;
  requests: { method: string; path: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

export async function startHostile(handler: Handler): Promise<Hostile> {
  const requests: Hostile['requests'] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers });
    handler(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** A job as Apiframe's GET /v2/jobs/{id} shows it, COMPLETED with the given result. */
export function completedJob(id: string, result: unknown) {
  return {
    id,
    status: 'COMPLETED',
    model: 'seedance-2',
    progress: 100,
    result,
    error: null,
    creditCost: 32,
    createdAt: new Date().toISOString(),
    completedAt: new Date().toISOString(),
    input: { model: 'seedance-2', prompt: 'hostile upstream', seedanceParams: { duration: 8 } },
  };
}

export const ME = {
  user: { id: 'u', email: 'x@example.invalid' },
  team: { id: 't', name: 'team', credits: 1_000, plan: 'test' },
};
