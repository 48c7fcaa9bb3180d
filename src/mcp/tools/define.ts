/** What a tool is: its name, description, schemas and annotations, and a handler, defined together in one file. */
import type { ContentBlock, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type * as z from 'zod';
import type { Services } from '../../app/services.js';
import type { Session } from '../../app/session.js';
import type { JsonSchema } from '../../core/json-schema.js';
import type { AccessScope } from '../../inputs/local-files.js';

export interface ProgressUpdate {
  /** 0..100; made strictly increasing before it is sent, as the protocol requires. */
  percent: number;
  message: string;
}

export interface ToolContext {
  services: Services;
  /** Who calls, over which transport. */
  session: Session;
  signal: AbortSignal;
  /** Sends notifications/progress when the request carried a progress token; otherwise does nothing. */
  progress(update: ProgressUpdate): void;
  /** Where local files may be read for this call: the allowed folders, narrowed by the client's roots. */
  accessScope(): Promise<AccessScope>;
  startedAt: number;
  /** The arguments as the client sent them, before defaults: to tell what the agent actually gave. */
  rawArgs: Readonly<Record<string, unknown>>;
}

export interface ToolResult<Output> {
  structured: Output;
  /** A short summary a person can read. */
  text: string;
  /** Extra blocks after the text: a resource_link to the video, an image preview. */
  content?: ContentBlock[];
  /** A failure that still fits the output schema (a FAILED job): reported with isError. */
  isError?: boolean;
}

export interface ToolDefinition<Input extends z.ZodType = z.ZodType, Output extends z.ZodType = z.ZodType> {
  name: string;
  title: string;
  description: string;
  input: Input;
  /** Rewrites the input schema as tools/list publishes it (to say shared fields once); the zod model still validates. */
  publishInput?: (schema: JsonSchema) => JsonSchema;
  output: Output;
  annotations: Required<
    Pick<ToolAnnotations, 'readOnlyHint' | 'destructiveHint' | 'idempotentHint' | 'openWorldHint'>
  >;
  /** Whether a client may run it as an MCP task (mcp/tasks.ts): only the tools that wait for a job. */
  taskSupport?: 'optional';
  /** The MCP Apps view that shows its result (mcp/resources.ts PLAYER_URI). */
  uiResourceUri?: string;
  handler(args: z.output<Input>, ctx: ToolContext): Promise<ToolResult<z.output<Output>>>;
}

/** Identity, typed: keeps each tool file's handler checked against its own schemas. */
export function defineTool<Input extends z.ZodType, Output extends z.ZodType>(
  tool: ToolDefinition<Input, Output>,
): ToolDefinition<Input, Output> {
  return tool;
}
