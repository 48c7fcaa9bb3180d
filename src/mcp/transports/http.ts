/**
 * MCP over Streamable HTTP, for teams and pipelines: one process, many sessions, each one MCP server built over the
 * shared app for the member its token names. The network edge is here: Host and Origin checked against DNS
 * rebinding, bearer tokens, a body limit, bounded sessions and requests in flight per member, idle sessions closed,
 * and a drain on SIGTERM (no new calls; calls in flight finish or hand back their job_id; jobs go on in the ledger).
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server as NodeServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { type App, startApp } from '../../app/app.js';
import { type Config, currentPlatform, loadConfig, SETTINGS } from '../../app/config.js';
import { WEBHOOK_PATH } from '../../app/services.js';
import type { Session } from '../../app/session.js';
import { ConfigError } from '../../core/errors.js';
import { log, setLogLevel } from '../../core/log.js';
import { VERSION } from '../../core/version.js';
import type { MemberScope } from '../../ledger/types.js';
import { buildServer } from '../server.js';
import { readBody } from './body.js';
import { type FileLinks, fileLinkKey, fileLinks } from './files.js';
import { type Access, loadAccess } from './members.js';
import { webhookReceiver } from './webhooks.js';

/** The largest JSON-RPC body read (the SDK's own default): a tool call's arguments are a few kilobytes. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** How much of a refused body is still read before answering (see the 413 below). */
const DRAINED_BODY_BYTES = 4 * MAX_BODY_BYTES;
/** How long a drain lets calls in flight finish on their own before their waits are stopped. */
const DRAIN_GRACE_MS = 5_000;

export interface HttpServerOptions {
  host: string;
  port: number;
  access: Access;
  /** Real paths local files may be read from; empty: local paths are refused. */
  allowedDirs: readonly string[];
  maxSessionsPerMember: number;
  maxInFlightPerMember: number;
  idleMs: number;
  /** Where clients reach the server when it is behind a proxy: its host is accepted too. */
  publicUrl?: string | undefined;
  /** Key of the signed /files/ links. */
  fileLinkKey: Buffer;
}

export interface McpHttpServer {
  /** `http://host:port/mcp` */
  url: string;
  port: number;
  sessions(): number;
  /** Stops taking calls, lets those in flight finish or hand back their job_id, then closes every session. */
  drain(): Promise<void>;
}

interface OpenSession {
  id: string;
  transport: StreamableHTTPServerTransport;
  server: Server;
  memberKey: string;
  /** The session's own copy of its member, brought up to date on every request (the members file may change). */
  member: MemberScope | undefined;
  lastActive: number;
  active: number;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function rpcError(res: ServerResponse, status: number, code: number, message: string, headers = {}) {
  sendJson(res, status, { jsonrpc: '2.0', id: null, error: { code, message } }, headers);
}

async function startMcpHttpServer(app: App, options: HttpServerOptions): Promise<McpHttpServer> {
  const sessions = new Map<string, OpenSession>();
  const inFlight = new Map<string, number>();
  /** One promise per POST being answered, settled when its response closes: what a drain waits for. */
  const answering = new Set<Promise<void>>();
  let draining = false;
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();
  let ownBase = '';
  const files: FileLinks = fileLinks({
    outputDir: app.services.config.outputDir,
    key: options.fileLinkKey,
    base: () =>
      options.publicUrl === undefined
        ? ownBase
        : options.publicUrl.endsWith('/')
          ? options.publicUrl
          : `${options.publicUrl}/`,
  });

  const memberKey = (member: MemberScope | undefined) => member?.name ?? '';
  const sessionsOf = (key: string) => [...sessions.values()].filter((s) => s.memberKey === key).length;

  const closeSession = (session: OpenSession, why: string) => {
    if (!sessions.delete(session.id)) return;
    log.debug('session closed', { why, member: session.memberKey || undefined });
    void session.server.close().catch(() => {});
  };

  const hostAllowed = (req: IncomingMessage): boolean => {
    const host = req.headers.host?.toLowerCase();
    if (host === undefined || !allowedHosts.has(host)) return false;
    const origin = req.headers.origin?.toLowerCase();
    return origin === undefined || allowedOrigins.has(origin);
  };

  const authenticate = (req: IncomingMessage, res: ServerResponse) => {
    const outcome = options.access.authenticate(req.headers.authorization);
    if (outcome.kind === 'member') return outcome;
    // The token itself is never logged: only that an attempt failed, from where, and why.
    log.warn('HTTP request refused: bad credentials', {
      reason: outcome.reason,
      from: req.socket.remoteAddress,
    });
    const challenge =
      outcome.reason === 'missing'
        ? 'Bearer realm="seedance-mcp"'
        : 'Bearer realm="seedance-mcp", error="invalid_token"';
    rpcError(res, 401, -32001, 'Unauthorized: send Authorization: Bearer <token>', {
      'www-authenticate': challenge,
    });
    return undefined;
  };

  const newSession = async (
    authenticated: MemberScope | undefined,
  ): Promise<StreamableHTTPServerTransport> => {
    const member = authenticated === undefined ? undefined : { ...authenticated };
    const session: Session = {
      transport: 'http',
      member,
      allowedDirs: options.allowedDirs,
      useClientRoots: false,
      linkFile: (path) => files.link(path),
    };
    const server = buildServer(app, session);
    const key = memberKey(member);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, {
          id,
          transport,
          server,
          memberKey: key,
          member,
          lastActive: Date.now(),
          active: 0,
        });
        log.debug('session opened', { member: member?.name });
      },
    });
    transport.onclose = () => {
      const open = transport.sessionId === undefined ? undefined : sessions.get(transport.sessionId);
      if (open !== undefined) closeSession(open, 'transport closed');
    };
    await server.connect(transport);
    return transport;
  };

  const handleMcp = async (req: IncomingMessage, res: ServerResponse) => {
    const auth = authenticate(req, res);
    if (auth === undefined) return;
    if (draining) {
      rpcError(res, 503, -32000, 'The server is shutting down; call again in a moment.', {
        'retry-after': '5',
      });
      return;
    }
    const key = memberKey(auth.member);
    const sessionId = req.headers['mcp-session-id'];
    const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    // Another member's session is as unknown to this caller as one that never existed.
    if (typeof sessionId === 'string' && (existing === undefined || existing.memberKey !== key)) {
      rpcError(res, 404, -32001, 'Session not found: initialize a new session.');
      return;
    }
    // A budget changed in the members file applies to the member's open sessions from their next request.
    if (existing?.member !== undefined && auth.member !== undefined)
      Object.assign(existing.member, auth.member);
    if (req.method === 'GET' || req.method === 'DELETE') {
      if (existing === undefined) {
        rpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
        return;
      }
      existing.lastActive = Date.now();
      await existing.transport.handleRequest(req, res);
      return;
    }
    if (req.method !== 'POST') {
      rpcError(res, 405, -32000, 'Method not allowed.', { allow: 'GET, POST, DELETE' });
      return;
    }
    const running = inFlight.get(key) ?? 0;
    if (running >= options.maxInFlightPerMember) {
      rpcError(res, 429, -32000, `Too many requests in flight (at most ${options.maxInFlightPerMember}).`, {
        'retry-after': '1',
      });
      req.resume();
      return;
    }
    inFlight.set(key, running + 1);
    if (existing !== undefined) existing.active += 1;
    const answered = new Promise<void>((resolve) =>
      res.once('close', () => {
        inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
        if (existing !== undefined) {
          existing.active -= 1;
          existing.lastActive = Date.now();
        }
        answering.delete(answered);
        resolve();
      }),
    );
    answering.add(answered);
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    const body = declared > MAX_BODY_BYTES ? undefined : await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) {
      // A body declared somewhat over the limit is read (and dropped) before the answer, so that a client still
      // sending it gets the 413 rather than a reset connection; a far larger one is not waited for.
      if (declared <= DRAINED_BODY_BYTES) await readBody(req, 0).catch(() => undefined);
      else req.resume();
      rpcError(res, 413, -32600, `Request body larger than ${MAX_BODY_BYTES} bytes.`, {
        connection: 'close',
      });
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(body.toString('utf8'));
    } catch {
      rpcError(res, 400, -32700, 'Parse error: the body is not JSON.');
      return;
    }
    if (existing !== undefined) {
      existing.lastActive = Date.now();
      await existing.transport.handleRequest(req, res, message);
      return;
    }
    if (!isInitializeRequest(message)) {
      rpcError(res, 400, -32000, 'Bad Request: no session; start with an initialize request.');
      return;
    }
    if (sessionsOf(key) >= options.maxSessionsPerMember) {
      rpcError(res, 429, -32000, `Too many open sessions (at most ${options.maxSessionsPerMember}).`, {
        'retry-after': '60',
      });
      return;
    }
    const transport = await newSession(auth.member);
    await transport.handleRequest(req, res, message);
  };

  /** Unauthenticated, so it says only what a load balancer needs: no paths, no budgets, no members. */
  const health = async (res: ServerResponse) => {
    const ledger = await app.services.ledger.health().catch(() => ({ ok: false, store: 'unknown' }));
    // A draining server answers 503, so that a load balancer stops sending it new sessions.
    sendJson(res, ledger.ok && !draining ? 200 : 503, {
      status: draining ? 'draining' : 'ok',
      version: VERSION,
      simulated: app.services.simulated,
      ledger: { state: ledger.ok ? 'ok' : 'unavailable', store: ledger.store },
      sessions: sessions.size,
    });
  };

  const { webhooks } = app.services;
  const receiveWebhook = webhooks === undefined ? undefined : webhookReceiver(webhooks, app.services.jobs);

  const http: NodeServer = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!hostAllowed(req)) {
      log.warn('HTTP request refused: Host or Origin not allowed', {
        host: req.headers.host,
        origin: req.headers.origin,
      });
      req.resume();
      rpcError(res, 403, -32000, 'Forbidden: Host or Origin not allowed.');
      return;
    }
    const route =
      path === '/mcp'
        ? handleMcp(req, res)
        : path === '/healthz' && req.method === 'GET'
          ? health(res)
          : path?.startsWith('/files/')
            ? files.serve(req, res)
            : path === `/${WEBHOOK_PATH}` && receiveWebhook !== undefined
              ? receiveWebhook(req, res)
              : Promise.resolve(sendJson(res, 404, { error: 'not found' }));
    route.catch((error: unknown) => {
      log.error('HTTP request failed', {
        path,
        error: error instanceof Error ? error.message : String(error),
      });
      rpcError(res, 500, -32603, 'Internal server error.');
    });
  });
  http.headersTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  ownBase = `http://${urlHost(options.host)}:${port}/`;
  const names = new Set<string>([urlHost(options.host)]);
  if (isLoopbackHost(options.host) || options.host === '0.0.0.0' || options.host === '::')
    for (const name of LOOPBACK_NAMES) names.add(name);
  allowedHosts = new Set([...names].map((name) => `${name}:${port}`.toLowerCase()));
  allowedOrigins = new Set([...allowedHosts].flatMap((h) => [`http://${h}`, `https://${h}`]));
  if (options.publicUrl !== undefined) {
    const pub = new URL(options.publicUrl);
    allowedHosts.add(pub.host.toLowerCase());
    allowedOrigins.add(pub.origin.toLowerCase());
  }

  const sweep = setInterval(
    () => {
      const idleSince = Date.now() - options.idleMs;
      for (const session of sessions.values())
        if (session.active === 0 && session.lastActive < idleSince) closeSession(session, 'idle');
    },
    // A quarter of the idle time: a session is closed at most 25% late, whatever the setting.
    Math.min(60_000, Math.max(10, Math.floor(options.idleMs / 4))),
  );
  sweep.unref();

  /** Resolves when every POST being answered now has its answer, or after `limitMs`. */
  const allAnswered = async (limitMs: number) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...answering]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, limitMs);
      }),
    ]);
    clearTimeout(timer);
  };

  return {
    url: `http://${urlHost(options.host)}:${port}/mcp`,
    port,
    sessions: () => sessions.size,
    async drain() {
      if (draining) return;
      draining = true;
      clearInterval(sweep);
      await allAnswered(DRAIN_GRACE_MS);
      // Calls still waiting on a video stop now and answer with their job_id.
      app.drain();
      await allAnswered(DRAIN_GRACE_MS);
      // Then the process's own work, as on stdio: unanswered submissions get the grace to record their job ids,
      // downloads stop without leaving .part files; the next start takes over what is left.
      await app.services.jobs.shutdown(DRAIN_GRACE_MS);
      for (const session of [...sessions.values()]) closeSession(session, 'shutdown');
      options.access.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export interface ServeHttpOptions {
  simulate: boolean;
  host: string;
  port: number;
}

/** Refuses to start where nobody is asked for a token and the network can reach the server. */
function checkExposure(config: Config, access: Access, host: string): void {
  if (access.mode === 'open' && !isLoopbackHost(host)) {
    throw new ConfigError(
      SETTINGS.httpTokensFile.name,
      `refusing to listen on ${host} with no token: set ${SETTINGS.httpTokensFile.name} or ${SETTINGS.httpToken.name}, or listen on 127.0.0.1`,
    );
  }
  if (config.publicUrl !== undefined && access.mode === 'open')
    log.warn(`${SETTINGS.publicUrl.name} is set but no token is: only loopback callers get in`);
}

export async function serveHttp(options: ServeHttpOptions): Promise<void> {
  const platform = currentPlatform();
  const config = loadConfig(platform, options.simulate ? { simulate: true } : {});
  setLogLevel(config.logLevel);
  const access = loadAccess(config);
  checkExposure(config, access, options.host);
  const app = await startApp(config, {}, 'http');
  // A remote member cannot mean this machine's files: local paths only where the operator named folders.
  const explicitDirs = (platform.env[SETTINGS.allowedDirs.name] ?? '').trim() !== '';
  const server = await startMcpHttpServer(app, {
    host: options.host,
    port: options.port,
    access,
    allowedDirs: explicitDirs ? app.services.allowedDirs : [],
    maxSessionsPerMember: config.httpMaxSessions,
    maxInFlightPerMember: config.httpMaxInFlight,
    idleMs: config.httpIdleMinutes * 60_000,
    publicUrl: config.publicUrl,
    fileLinkKey: fileLinkKey(config.simulate ? undefined : config.apiKey),
  });
  let closing = false;
  const shutdown = async (reason: string) => {
    if (closing) return;
    closing = true;
    log.info('draining', { reason });
    await server.drain().catch((error: unknown) => log.warn('drain failed', { error: String(error) }));
    await app.close().catch(() => {});
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  log.info('serving MCP over HTTP', {
    version: VERSION,
    url: server.url,
    access: access.mode,
    simulated: config.simulate,
  });
  app.pickUpOrphans();
}
