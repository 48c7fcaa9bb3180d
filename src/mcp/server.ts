/**
 * The MCP server, without a transport: lists the tools with schemas from their zod models, validates arguments,
 * runs handlers, and is the one error boundary that turns failures into `isError` results telling the model what
 * happened and how to recover.
 */

import { fileURLToPath } from 'node:url';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  RootsListChangedNotificationSchema,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import type { App } from '../app/app.js';
import { servicesFor } from '../app/member-services.js';
import type { Session } from '../app/session.js';
import {
  CancelledError,
  InvalidArgumentsError,
  SeedanceError,
  ShuttingDownError,
  UnknownToolError,
} from '../core/errors.js';
import { toJsonSchema, toOutputJsonSchema } from '../core/json-schema.js';
import { log } from '../core/log.js';
import { redact } from '../core/redact.js';
import { fieldIssues } from '../domain/params.js';
import { type AccessScope, realDirs } from '../inputs/local-files.js';
import { serverInfo } from './identity.js';
import { forwardLogs } from './logging.js';
import { registerResources } from './resources.js';
import { LedgerTaskStore } from './tasks.js';
import type { ToolContext, ToolDefinition, ToolResult } from './tools/define.js';
import { buildTools } from './tools/index.js';

export const SERVER_INSTRUCTIONS = [
  "seedance-mcp makes videos with Seedance 2.0 and spends the user's Apiframe credits.",
  'Before a large or repeated spend, call estimate_cost and tell the user the price.',
  'generate_video may return status "processing" with a job_id when the video takes longer than wait_seconds: then call get_video with that job_id; never call generate_video again for the same video (it would be reused anyway, unless new_job is true).',
  'After a timeout or an error that says the outcome is unknown, repeat the same call with the same arguments: it resumes the original job instead of paying twice.',
  'Report the cost (credits charged, budget left) and the saved file path to the user.',
  'Local files (absolute paths) can be given directly to the media fields or uploaded first with upload_asset.',
  "To chain shots, ask for return_last_frame and pass the result's last_frame.path as the next start_image.",
].join(' ');

/**
 * The Server validates elicitation answers with this; seedance-mcp never elicits, so it needs no JSON Schema engine
 * (the SDK's default, Ajv, is left out of the bundle: see scripts/build.mjs).
 */
const noElicitation: jsonSchemaValidator = {
  getValidator() {
    throw new Error('seedance-mcp does not elicit, so it validates no elicitation schema');
  },
};

/** The MCP spec's value of each hint when it is left out. */
const HINT_DEFAULTS = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: true,
};

/**
 * A tool's hints as published: those at the spec's default are left out (the spec says them), and so is
 * destructiveHint for a read-only tool (the spec gives it meaning only when readOnlyHint is false).
 */
function publishedHints(annotations: ToolDefinition['annotations']): Partial<typeof HINT_DEFAULTS> {
  return Object.fromEntries(
    Object.entries(annotations).filter(
      ([hint, value]) =>
        value !== HINT_DEFAULTS[hint as keyof typeof HINT_DEFAULTS] &&
        !(hint === 'destructiveHint' && annotations.readOnlyHint),
    ),
  );
}

export function toolListing(tools: readonly ToolDefinition[]): Tool[] {
  return tools.map((tool) => ({
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: (tool.publishInput ?? ((schema) => schema))(toJsonSchema(tool.input, 'input')),
    outputSchema: toOutputJsonSchema(tool.output),
    annotations: publishedHints(tool.annotations),
    ...(tool.taskSupport === undefined ? {} : { execution: { taskSupport: tool.taskSupport } }),
    ...(tool.uiResourceUri === undefined ? {} : { _meta: { ui: { resourceUri: tool.uiResourceUri } } }),
  }));
}

/**
 * Recovery advice that names the server's own configuration is for the person who runs it. Over stdio that is the
 * user beside the agent; over HTTP it is an operator the member cannot reach through an "env" block.
 */
const REMOTE_RECOVERY: Readonly<Record<string, string>> = {
  config_error:
    'The server is misconfigured; nothing was submitted. Tell the operator of this seedance-mcp server (the setting is named in the message).',
  path_not_allowed:
    "This server reads local files only from its operator's allowed folders, which a remote caller cannot put files in: give an http(s) URL or an asset:// URI instead.",
  missing_api_key:
    'The server has no Apiframe API key; nothing was submitted. Tell the operator of this seedance-mcp server. estimate_cost works without a key.',
};

function recoveryFor(error: SeedanceError, session: Session): string {
  if (session.transport === 'stdio') return error.recovery;
  return (
    REMOTE_RECOVERY[error.code] ??
    error.recovery
      .replace(
        /ask the user to raise SEEDANCE_BUDGET_CREDITS/g,
        "ask the server's operator to raise the budget",
      )
      .replace(/raise SEEDANCE_MAX_DOWNLOAD_MB/g, "ask the server's operator to raise the download limit")
  );
}

/** Where an error result carries the error's code and details, for client programs (the model reads the text). */
export const ERROR_META_KEY = 'seedance-mcp/error';
/** Where a result made for an HTTP member names them. */
const MEMBER_META_KEY = 'seedance-mcp/member';

function errorResult(error: unknown, toolName: string, session: Session): CallToolResult {
  if (error instanceof SeedanceError) {
    const result: CallToolResult = {
      isError: true,
      content: [
        {
          type: 'text',
          text: `Error (${error.code}): ${error.message}\nWhat to do: ${recoveryFor(error, session)}`,
        },
      ],
      _meta: {
        [ERROR_META_KEY]: { code: error.code, details: error.details },
        ...(session.member === undefined ? {} : { [MEMBER_META_KEY]: session.member.name }),
      },
    };
    return JSON.parse(redact(JSON.stringify(result))) as CallToolResult;
  }
  log.error('unexpected failure in a tool', {
    tool: toolName,
    ...(session.member === undefined ? {} : { member: session.member.name }),
    error: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
  return {
    isError: true,
    content: [
      {
        type: 'text',
        text: `Error (internal): ${toolName} failed unexpectedly.\nWhat to do: if this call could have submitted a video, call list_videos before retrying, so that nothing is paid twice. ${session.transport === 'stdio' ? 'The server log (stderr) has the details.' : "The server's log has the details."}`,
      },
    ],
  };
}

/**
 * Over HTTP the server's paths mean nothing to the client: every file in a result (an object with `path` and
 * `file_uri`) gains a `download_url` served by this server, and resource links point at it.
 */
function withDownloadLinks(answer: CallToolResult, link: (path: string) => string | undefined): void {
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    const node = value as Record<string, unknown>;
    if (typeof node.path === 'string' && typeof node.file_uri === 'string') {
      const url = link(node.path);
      if (url !== undefined) node.download_url = url;
    }
    for (const child of Object.values(node)) visit(child);
  };
  visit(answer.structuredContent);
  for (const block of answer.content) {
    if (block.type !== 'resource_link' || !block.uri.startsWith('file:')) continue;
    const url = link(fileURLToPath(block.uri));
    if (url !== undefined) block.uri = url;
  }
}

/** A tool's result as the client receives it. */
function presentResult(result: ToolResult<unknown>, session: Session): CallToolResult {
  const answer: CallToolResult = {
    content: [{ type: 'text', text: result.text }, ...(result.content ?? [])],
    structuredContent: result.structured as Record<string, unknown>,
    ...(result.isError === true ? { isError: true } : {}),
  };
  if (session.linkFile !== undefined) withDownloadLinks(answer, session.linkFile);
  // Over HTTP every result names the member it was made for.
  if (session.member !== undefined) answer._meta = { [MEMBER_META_KEY]: session.member.name };
  // Nothing a tool returns should hold a secret; this boundary makes sure of it.
  return JSON.parse(redact(JSON.stringify(answer))) as CallToolResult;
}

/** Keeps progress values strictly increasing, as the protocol requires, whatever the upstream percent does. */
function progressSender(send: (progress: number, message: string) => Promise<void>) {
  let last = -1;
  return (percent: number, message: string) => {
    // 100 only when a tool says it is done; until then the increments stop just short of it.
    const next = percent >= 100 ? 100 : Math.min(99.99, Math.max(percent, last + 0.01));
    if (next <= last) return;
    last = next;
    send(Math.round(next * 100) / 100, message).catch((error: unknown) =>
      log.debug('progress notification not sent', { error: String(error) }),
    );
  };
}

/** One MCP server per session, over the process-wide app. */
export function buildServer(app: App, session: Session): Server {
  // A member sees the process's services through a ledger of their own jobs.
  const services = servicesFor(app.services, session.member);
  const tools = buildTools(services.config);
  const listing = toolListing(tools);
  const byName = new Map(tools.map((t) => [t.name, t]));
  const taskStore = new LedgerTaskStore(
    services,
    session,
    (result) => presentResult(result, session),
    (task): Promise<void> => server.notification({ method: 'notifications/tasks/status', params: task }),
  );
  const server = new Server(serverInfo(), {
    capabilities: {
      tools: { listChanged: false },
      logging: {},
      resources: {},
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
    },
    taskStore,
    instructions: SERVER_INSTRUCTIONS,
    jsonSchemaValidator: noElicitation,
  });
  // The process's log names every member's jobs: a member's session over HTTP is not sent it.
  if (session.member === undefined) forwardLogs(server, services.config.logLevel);

  let roots: Promise<string[] | undefined> | undefined;
  server.setNotificationHandler(RootsListChangedNotificationSchema, async () => {
    roots = undefined;
  });
  const clientRoots = (): Promise<string[] | undefined> => {
    if (!session.useClientRoots || server.getClientCapabilities()?.roots === undefined)
      return Promise.resolve(undefined);
    roots ??= server
      .listRoots()
      .then((answer) =>
        realDirs(answer.roots.filter((r) => r.uri.startsWith('file://')).map((r) => fileURLToPath(r.uri))),
      )
      .catch((error: unknown) => {
        roots = undefined;
        log.warn('could not read the client roots; using the allowed folders alone', {
          error: String(error),
        });
        return undefined;
      });
    return roots;
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: listing }));
  registerResources(server, services);

  /** The answer to one call; `waitSeconds` replaces the call's own wait (a task's quick part waits for nothing). */
  const answerCall = async (
    request: CallToolRequest,
    extra: RequestHandlerExtra<ServerRequest, ServerNotification>,
    waitSeconds?: number,
  ): Promise<CallToolResult> => {
    const name = request.params.name;
    const tool = byName.get(name);
    if (tool === undefined) {
      return errorResult(
        new UnknownToolError(
          name,
          tools.map((t) => t.name),
        ),
        name,
        session,
      );
    }
    const rawArgs = request.params.arguments ?? {};
    const parsed = tool.input.safeParse(rawArgs);
    if (!parsed.success)
      return errorResult(new InvalidArgumentsError(fieldIssues(parsed.error)), name, session);
    const progressToken = request.params._meta?.progressToken;
    const sendProgress =
      progressToken === undefined
        ? undefined
        : progressSender((progress, message) =>
            extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken, progress, total: 100, message },
            }),
          );
    const ctx: ToolContext = {
      services,
      session,
      // A draining process stops every wait: the call hands back its job_id and the job goes on.
      signal: AbortSignal.any([extra.signal, app.draining]),
      progress: (update) => sendProgress?.(update.percent, update.message),
      accessScope: async (): Promise<AccessScope> => ({
        allowedDirs: session.allowedDirs,
        roots: await clientRoots(),
        // Resolved per call: the folder is created by the first download. Trusted on stdio only: over HTTP the
        // folder holds every member's results, and a path into it would read another member's video.
        outputDir:
          session.transport === 'stdio' ? (await realDirs([services.config.outputDir]))[0] : undefined,
      }),
      startedAt: services.now(),
      rawArgs,
    };
    const args =
      waitSeconds === undefined ? parsed.data : { ...(parsed.data as object), wait_seconds: waitSeconds };
    try {
      return presentResult(await tool.handler(args, ctx), session);
    } catch (error) {
      if (app.draining.aborted && error instanceof CancelledError) {
        // Not the client's doing: the server stopped the wait to shut down, and the job goes on without it.
        return errorResult(new ShuttingDownError({ stopped: error }), name, session);
      }
      return errorResult(error, name, session);
    }
  };

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const task = request.params.task;
    if (task === undefined) return answerCall(request, extra);
    const name = request.params.name;
    if (byName.get(name)?.taskSupport !== 'optional') {
      throw new McpError(ErrorCode.MethodNotFound, `${name} does not run as a task: call it without "task".`);
    }
    return taskStore.open(name, await answerCall(request, extra, 0), task.ttl);
  });

  return server;
}
